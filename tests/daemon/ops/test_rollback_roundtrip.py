"""Rollback round trip: a mixed forward batch, its rollback (inverse steps, newest first, in a
batch of its own) gives back the original tree — content, modes, mtimes and, on one
filesystem, the original inodes — and rolling back the rollback gives the forward result."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from ops_helpers import snapshot, temps_in
from rollback_helpers import (
    FORWARD,
    REDO,
    ROLLBACK,
    inodes,
    plan_rollback,
    run_all,
    run_undo,
    workload,
)

from batchd.daemon.ops.env import OpEnv
from batchd.daemon.ops.fs import FileSystem, Hook, no_hook
from batchd.daemon.ops.step import OpKind
from batchd.daemon.ops.undo import UndoStore

# Regular files whose inode a rollback on one filesystem gives back: moved (a, b swapped; m,
# g, h, dd/in), deleted (e, gone/...), transformed (f), overwritten (d by a copy, k by a move).
SAME_INODE = [
    b"a", b"b", b"m", b"d", b"e", b"gone/x", b"gone/y/z", b"gone/l", b"f", b"g", b"h", b"k",
    b"dd/in",
]  # fmt: skip


def _round_trip(make_env: Callable[..., OpEnv], root: Path, store: Path) -> None:
    steps = workload(root)
    original, original_inodes = snapshot(root), inodes(root)
    forward_env = make_env(store=store, batch=FORWARD)
    done = run_all(forward_env, steps)
    after, after_inodes = snapshot(root), inodes(root)
    assert after != original and temps_in(root) == []

    undo = plan_rollback(done, batch=FORWARD, store=forward_env.undo)
    assert [u.step.line for u in undo][:3] == [13, 11, 11]  # newest first; 14, 12: none
    assert all(u.step.op != OpKind.CHECKSUM for u in undo)
    rollback_env = make_env(store=store, batch=ROLLBACK)
    undone = run_undo(rollback_env, undo)
    assert snapshot(root) == original and temps_in(root) == []
    same_fs = os.lstat(store).st_dev == os.lstat(root).st_dev
    if same_fs:
        restored = inodes(root)
        for name in SAME_INODE:
            assert restored[name] == original_inodes[name], name

    redo = plan_rollback(undone, batch=ROLLBACK, store=rollback_env.undo)
    run_undo(make_env(store=store, batch=REDO), redo)
    assert snapshot(root) == after and temps_in(root) == []
    if same_fs:
        assert inodes(root) == after_inodes


def test_round_trip_one_filesystem(make_env: Callable[..., OpEnv], tmp_path: Path) -> None:
    _round_trip(make_env, tmp_path / "t", tmp_path / "state/undo")


def test_round_trip_store_on_another_filesystem(
    make_env: Callable[..., OpEnv], tmp_path: Path, tmpfs: Callable[..., Path]
) -> None:
    store = tmpfs("store", size="16m")
    _round_trip(make_env, tmp_path / "t", store / "undo")


def test_round_trip_tree_on_another_filesystem(
    make_env: Callable[..., OpEnv], tmp_path: Path, tmpfs: Callable[..., Path]
) -> None:
    tree = tmpfs("tree", size="16m")
    _round_trip(make_env, tree / "t", tmp_path / "state/undo")


def test_digest_is_recorded_for_small_files(make_env: Callable[..., OpEnv], tmp_path: Path) -> None:
    root = tmp_path / "t"
    done = run_all(make_env(batch=FORWARD), workload(root))
    by_line = {ran.step.line: ran.outcome for ran in done}
    assert len(by_line[7].digest) == 16  # transform
    assert len(by_line[4].digest) == 16  # copy
    assert by_line[8].digest == b"" and by_line[8].post is not None  # mkdir: a directory
    assert by_line[5].digest == b"" and by_line[5].post is None  # delete: nothing left
    assert by_line[14].digest == b""  # checksum changes nothing


@pytest.mark.parametrize("rollback", [True, False])
def test_no_digest_without_rollback(
    make_env: Callable[..., OpEnv], tmp_path: Path, rollback: bool
) -> None:
    root = tmp_path / "t"
    steps = [s for s in workload(root) if s.op == OpKind.TRANSFORM]
    (ran,) = run_all(make_env(batch=FORWARD, enable_rollback=rollback), steps)
    assert bool(ran.outcome.digest) == rollback


def test_round_trip_with_the_link_unlink_fallback(tmp_path: Path) -> None:
    """Where RENAME_NOREPLACE is refused, renames go through link + unlink."""

    def make_env(hook: Hook = no_hook, *, store: Path, batch: int) -> OpEnv:
        fs = FileSystem(hook, use_renameat2=False)
        return OpEnv(fs, UndoStore(store, fs), batch, item_timeout=20.0)

    _round_trip(make_env, tmp_path / "t", tmp_path / "state/undo")
