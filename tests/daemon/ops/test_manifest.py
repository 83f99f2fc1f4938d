"""UndoStore manifests: the paths a call declared, written durably before it runs."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import msgpack
import pytest
from ops_helpers import BATCH, Crash, CrashAt, step, write

from batchd.daemon.ops.env import OpEnv
from batchd.daemon.ops.fs import FileSystem
from batchd.daemon.ops.runner import run_step
from batchd.daemon.ops.step import OpKind
from batchd.daemon.ops.undo import UndoStore


def test_round_trip_and_absent(tmp_path: Path) -> None:
    store = UndoStore(tmp_path / "undo", FileSystem())
    assert store.read_manifest(1, 0) is None
    paths = [b"/a", b"/b/\xff-not-utf8"]
    target = store.write_manifest(1, 0, paths)
    assert target == store.manifest_path(1, 0) and target.endswith(b"/1/0.paths")
    assert store.read_manifest(1, 0) == paths
    store.write_manifest(1, 0, [b"/c"])  # a re-run replaces it
    assert store.read_manifest(1, 0) == [b"/c"]
    assert os.listdir(os.path.dirname(target)) == [b"0.paths"]


def test_written_durably(tmp_path: Path) -> None:
    hook = CrashAt()
    UndoStore(tmp_path / "undo", FileSystem(hook)).write_manifest(1, 0, [b"/a"])
    names = [name for name, _ in hook.calls]
    assert names.index("fsync") < names.index("rename") < len(names) - 1
    assert names[-1] == "fsync"  # the directory, after the rename


def test_a_crash_never_leaves_half_a_manifest(tmp_path: Path) -> None:
    counting = CrashAt()
    UndoStore(tmp_path / "count", FileSystem(counting)).write_manifest(1, 0, [b"/a"])
    for at in range(len(counting.calls)):
        store = UndoStore(tmp_path / f"c{at}", FileSystem(CrashAt(at)))
        with pytest.raises(Crash):
            store.write_manifest(1, 0, [b"/a"])
        after = UndoStore(tmp_path / f"c{at}", FileSystem())
        assert after.read_manifest(1, 0) in (None, [b"/a"])


def test_call_writes_its_manifest_first(
    make_env: Callable[..., OpEnv], tree: Path, handlers_dist: Path
) -> None:
    order: list[str] = []

    def hook(name: str, *paths: bytes) -> None:
        if name == "rename" and paths[1].endswith(b".paths"):
            order.append("manifest")
        if name == "rename" and paths[1].endswith(b"/0"):
            order.append("keep")

    env = make_env(hook)
    path = os.fsencode(write(tree / "a"))
    assert run_step(step(OpKind.CALL, path, handler="annotate", args=msgpack.packb({})), env).ok
    assert env.undo.read_manifest(BATCH, 0) == [path, path + b".meta"]
    assert order == ["manifest", "keep"]


def test_no_manifest_without_rollback(
    make_env: Callable[..., OpEnv], tree: Path, handlers_dist: Path
) -> None:
    env = make_env(enable_rollback=False)
    assert run_step(step(OpKind.CALL, write(tree / "a"), handler="upper"), env).ok
    assert env.undo.read_manifest(BATCH, 0) is None
