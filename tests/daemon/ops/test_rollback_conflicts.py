"""Rollback conflicts: what changed after the batch is reported and left untouched; with force
it is replaced but kept in the rollback's own store, so undoing the forced rollback brings
it back."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from ops_helpers import read, step, write
from rollback_helpers import FORWARD, REDO, ROLLBACK, plan_rollback, run_all, run_undo

from batchd.daemon.ops.env import OpEnv
from batchd.daemon.ops.runner import run_step
from batchd.daemon.ops.step import ErrorKind, OpKind


def _edit_keeping_size_and_times(path: Path, data: bytes) -> None:
    info = os.lstat(path)
    assert len(data) == info.st_size
    with open(path, "r+b") as handle:  # in place: same inode
        handle.write(data)
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))


def test_edited_transform_result_is_a_conflict_then_forced(
    make_env: Callable[..., OpEnv], tree: Path
) -> None:
    path = write(tree / "f", b"hello world", 0o640, mtime=1_000_000)
    forward = make_env(batch=FORWARD)
    done = run_all(forward, [step(OpKind.TRANSFORM, path, command=("tr", "a-z", "A-Z"))])
    _edit_keeping_size_and_times(path, b"HELLO THERE")
    edited = os.lstat(path)

    (undo,) = plan_rollback(done, batch=FORWARD, store=forward.undo)
    outcome = run_step(undo.step, make_env(batch=ROLLBACK), undo.expected)
    assert outcome.error_kind == ErrorKind.PERMANENT
    assert outcome.error == (
        f"{path} was changed since (same size and times, different content); left untouched"
    )
    assert read(path) == b"HELLO THERE" and os.lstat(path).st_ctime_ns == edited.st_ctime_ns

    forced = plan_rollback(done, batch=FORWARD, store=forward.undo, force=True)
    rollback = make_env(batch=ROLLBACK)
    undone = run_undo(rollback, forced)
    assert read(path) == b"hello world"
    assert read(rollback.undo.path_for(ROLLBACK, 0)) == b"HELLO THERE"

    redo = plan_rollback(undone, batch=ROLLBACK, store=rollback.undo)
    run_undo(make_env(batch=REDO), redo)
    assert read(path) == b"HELLO THERE" and os.lstat(path).st_ino == edited.st_ino


def test_re_created_deleted_path_is_a_conflict_then_forced(
    make_env: Callable[..., OpEnv], tree: Path
) -> None:
    path = write(tree / "e", b"original", mtime=1_000_000)
    forward = make_env(batch=FORWARD)
    done = run_all(forward, [step(OpKind.DELETE, path)])
    write(path, b"re-created")

    (undo,) = plan_rollback(done, batch=FORWARD, store=forward.undo)
    outcome = run_step(undo.step, make_env(batch=ROLLBACK), undo.expected)
    assert outcome.error_kind == ErrorKind.PERMANENT and "was re-created since" in outcome.error
    assert read(path) == b"re-created"

    forced = plan_rollback(done, batch=FORWARD, store=forward.undo, force=True)
    rollback = make_env(batch=ROLLBACK)
    undone = run_undo(rollback, forced)
    assert read(path) == b"original"
    assert read(rollback.undo.path_for(ROLLBACK, 0)) == b"re-created"

    redo = plan_rollback(undone, batch=ROLLBACK, store=rollback.undo)
    run_undo(make_env(batch=REDO), redo)
    assert read(path) == b"re-created"


def test_moved_file_edited_and_origin_re_created(
    make_env: Callable[..., OpEnv], tree: Path
) -> None:
    src, dst = write(tree / "a", b"moved", mtime=1_000_000), tree / "b"
    forward = make_env(batch=FORWARD)
    done = run_all(forward, [step(OpKind.MOVE, src, dst)])
    _edit_keeping_size_and_times(dst, b"MOVED")
    (undo,) = plan_rollback(done, batch=FORWARD, store=forward.undo)
    outcome = run_step(undo.step, make_env(batch=ROLLBACK), undo.expected)
    assert "different content" in outcome.error and read(dst) == b"MOVED"

    write(src, b"new a")
    forced = plan_rollback(done, batch=FORWARD, store=forward.undo, force=True)
    rollback = make_env(batch=ROLLBACK)
    undone = run_undo(rollback, forced)
    assert read(src) == b"MOVED" and not dst.exists()
    redo = plan_rollback(undone, batch=ROLLBACK, store=rollback.undo)
    run_undo(make_env(batch=REDO), redo)
    assert read(src) == b"new a" and read(dst) == b"MOVED"


def test_directory_with_new_content_is_not_removed(
    make_env: Callable[..., OpEnv], tree: Path
) -> None:
    forward = make_env(batch=FORWARD)
    done = run_all(forward, [step(OpKind.MKDIR, tree / "d")])
    write(tree / "d/mine", b"user data")
    (undo,) = plan_rollback(done, batch=FORWARD, store=forward.undo)
    outcome = run_step(undo.step, make_env(batch=ROLLBACK), undo.expected)
    assert "is not empty: something was added since" in outcome.error
    assert read(tree / "d/mine") == b"user data"
