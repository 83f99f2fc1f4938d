"""Fixtures for the op tests: an OpEnv over tmp_path, tmpfs mounts, a public directory."""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from ops_helpers import BATCH, EnvFactory, mount_tmpfs, unmount

from batchd.daemon.ops.env import OpEnv
from batchd.daemon.ops.fs import FileSystem, Hook, no_hook
from batchd.daemon.ops.undo import UndoStore


@pytest.fixture
def make_env(tmp_path: Path) -> EnvFactory:
    """Build an OpEnv whose undo store is ``tmp_path/state/undo``."""

    def make(hook: Hook = no_hook, *, store: Path | None = None, **kwargs: object) -> OpEnv:
        fs = FileSystem(hook)
        undo = UndoStore(store or tmp_path / "state" / "undo", fs)
        kwargs.setdefault("item_timeout", 20.0)
        return OpEnv(fs, undo, BATCH, **kwargs)  # type: ignore[arg-type]

    return make


@pytest.fixture
def env(make_env: EnvFactory) -> OpEnv:
    """A default OpEnv: rollback on, 20 s item timeout."""
    return make_env()


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """An empty directory for the test's files (beside, not inside, the state dir)."""
    path = tmp_path / "tree"
    path.mkdir()
    return path


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Callable[..., Path]]:
    """Mount small tmpfs filesystems under tmp_path: ``tmpfs(name, size="4m")``."""
    mounted: list[Path] = []

    def make(name: str = "mnt", size: str = "4m", options: str = "") -> Path:
        where = tmp_path / name
        mount_tmpfs(where, size, options)
        mounted.append(where)
        return where

    yield make
    for where in reversed(mounted):
        unmount(where)


@pytest.fixture
def public_dir() -> Iterator[Path]:
    """A directory an unprivileged uid can reach (tmp_path's ancestors are 0700)."""
    path = Path(tempfile.mkdtemp(prefix="batchd-ops-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)
