"""Fixtures for the op tests: an OpEnv over tmp_path, tmpfs mounts, a public directory, a
fake distribution of call handlers."""

from __future__ import annotations

import shutil
import sys
import tempfile
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from ops_helpers import BATCH, EnvFactory, mount_tmpfs, unmount

from batchd.daemon.ops.env import OpEnv
from batchd.daemon.ops.fs import FileSystem, Hook, no_hook
from batchd.daemon.ops.handlers import GROUP
from batchd.daemon.ops.undo import UndoStore


@pytest.fixture
def make_env(tmp_path: Path) -> EnvFactory:
    """Build an OpEnv whose undo store is ``tmp_path/state/undo`` (batch BATCH unless
    ``batch=`` says otherwise)."""

    def make(
        hook: Hook = no_hook, *, store: Path | None = None, batch: int = BATCH, **kwargs: object
    ) -> OpEnv:
        fs = FileSystem(hook)
        undo = UndoStore(store or tmp_path / "state" / "undo", fs)
        kwargs.setdefault("item_timeout", 20.0)
        return OpEnv(fs, undo, batch, **kwargs)  # type: ignore[arg-type]

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


HANDLER_MODULE = '''
"""Handlers for the tests."""
import os


class Upper:
    """Uppercases the file in place (so a hardlink would not freeze the original)."""

    def paths(self, path, args):
        return [path]

    def run(self, path, args):
        with open(path, "r+b") as handle:
            data = handle.read().upper() * args.get("times", 1)
            handle.seek(0)
            handle.write(data)
        return f"{len(data)} bytes"


class Boom:
    def paths(self, path, args):
        return []

    def run(self, path, args):
        raise ValueError("bad pixel data\\nsecond line")


class Sidecar:
    """Writes a sidecar file next to the path (relative declared path)."""

    def paths(self, path, args):
        return [os.path.basename(path) + ".meta"]

    def run(self, path, args):
        with open(path + ".meta", "w") as handle:
            handle.write("meta")
        return None


class Annotate:
    """Uppercases the file in place and writes a sidecar: two declared paths."""

    def paths(self, path, args):
        return [path, os.path.basename(path) + ".meta"]

    def run(self, path, args):
        Upper().run(path, {})
        return Sidecar().run(path, args)


upper = Upper()
boom = Boom()
sidecar = Sidecar()
annotate = Annotate()
'''


@pytest.fixture
def handlers_dist(tmp_path: Path) -> Iterator[Path]:
    """A fake installed distribution registering the test handlers, on sys.path."""
    site = tmp_path / "site"
    dist = site / "batchd_test_handlers-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: batchd-test-handlers\nVersion: 1.0\n"
    )
    (dist / "entry_points.txt").write_text(
        textwrap.dedent(f"""\
            [{GROUP}]
            upper = batchd_test_handlers:upper
            boom = batchd_test_handlers:boom
            sidecar = batchd_test_handlers:sidecar
            annotate = batchd_test_handlers:annotate
            """)
    )
    (site / "batchd_test_handlers.py").write_text(HANDLER_MODULE)
    sys.path.insert(0, str(site))
    yield site
    sys.path.remove(str(site))
    sys.modules.pop("batchd_test_handlers", None)
