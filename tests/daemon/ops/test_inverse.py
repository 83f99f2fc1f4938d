"""inverse_steps: the undo steps of each op kind, with and without force, and running them."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import msgpack
import pytest
from ops_helpers import read, step, write
from rollback_helpers import FORWARD, ROLLBACK, Ran, plan_rollback, run_all, run_undo

from batchd.daemon.ops.env import OpEnv
from batchd.daemon.ops.inverse import MissingUndoData, UndoStep, inverse_steps
from batchd.daemon.ops.step import OpKind, Step


def _forward(env: OpEnv, the_step: Step) -> tuple[Ran, list[UndoStep]]:
    (ran,) = run_all(env, [the_step])
    undo = inverse_steps(
        ran.step, ran.outcome.post, ran.outcome.digest, batch=FORWARD, store=env.undo,
        force=False, result=ran.outcome.result,
    )  # fmt: skip
    return ran, undo


def _shape(undo: list[UndoStep]) -> list[tuple[OpKind, bytes, bytes | None, bool, str]]:
    return [(u.step.op, u.step.path, u.step.dest, u.step.overwrite, u.action) for u in undo]


@pytest.fixture
def fenv(make_env: Callable[..., OpEnv]) -> OpEnv:
    """The forward batch's env."""
    return make_env(batch=FORWARD)


def test_checksum_has_none(fenv: OpEnv, tree: Path) -> None:
    assert _forward(fenv, step(OpKind.CHECKSUM, write(tree / "a")))[1] == []


def test_move(fenv: OpEnv, tree: Path) -> None:
    a, b = os.fsencode(write(tree / "a")), os.fsencode(tree / "b")
    ran, undo = _forward(fenv, step(OpKind.MOVE, a, b, index=3))
    assert _shape(undo) == [(OpKind.MOVE, b, a, False, "move back")]
    (only,) = undo
    assert only.expected == ran.outcome.post and only.step.digest == ran.outcome.digest != b""
    assert only.step.index == 0 and only.step.line == 4


def test_move_with_overwrite_restores_the_old_destination(fenv: OpEnv, tree: Path) -> None:
    a, b = os.fsencode(write(tree / "a", b"new")), os.fsencode(write(tree / "b", b"old"))
    _, undo = _forward(fenv, step(OpKind.MOVE, a, b, overwrite=True, index=3))
    entry = fenv.undo.path_for(FORWARD, 3)
    assert _shape(undo) == [
        (OpKind.MOVE, b, a, False, "move back"),
        (OpKind.RESTORE, b, entry, False, "restore"),
    ]
    assert undo[1].expected is None


def test_copy(fenv: OpEnv, tree: Path) -> None:
    a, b = os.fsencode(write(tree / "a")), os.fsencode(write(tree / "b", b"old"))
    ran, undo = _forward(fenv, step(OpKind.COPY, a, b, overwrite=True))
    assert _shape(undo) == [
        (OpKind.DELETE, b, None, False, "remove"),
        (OpKind.RESTORE, b, fenv.undo.path_for(FORWARD, 0), False, "restore"),
    ]
    assert undo[0].expected == ran.outcome.post


def test_delete_and_missing_undo_data(make_env: Callable[..., OpEnv], tree: Path) -> None:
    fenv = make_env(batch=FORWARD)
    path = os.fsencode(write(tree / "a"))
    _, undo = _forward(fenv, step(OpKind.DELETE, path))
    assert _shape(undo) == [
        (OpKind.RESTORE, path, fenv.undo.path_for(FORWARD, 0), False, "restore")
    ]
    plain = make_env(batch=FORWARD, enable_rollback=False)
    with pytest.raises(MissingUndoData, match=r"undo data of line 6 \(delete .*/b\) is gone"):
        _forward(plain, step(OpKind.DELETE, write(tree / "b"), index=5))


def test_transform(fenv: OpEnv, tree: Path) -> None:
    path = os.fsencode(write(tree / "a", b"abc"))
    ran, undo = _forward(fenv, step(OpKind.TRANSFORM, path, command=("tr", "a-z", "A-Z")))
    (only,) = undo
    assert _shape(undo) == [(OpKind.RESTORE, path, fenv.undo.path_for(FORWARD, 0), True, "restore")]
    assert only.expected == ran.outcome.post and only.step.digest == ran.outcome.digest


def test_mkdir_created_and_existing(fenv: OpEnv, tree: Path) -> None:
    ran, undo = _forward(fenv, step(OpKind.MKDIR, tree / "d"))
    assert _shape(undo) == [(OpKind.RMDIR, os.fsencode(tree / "d"), None, False, "rmdir")]
    assert undo[0].expected == ran.outcome.post
    assert _forward(fenv, step(OpKind.MKDIR, tree / "d"))[1] == []  # it was there: stays


def test_rmdir_and_restore_invert(fenv: OpEnv, tree: Path) -> None:
    (tree / "d").mkdir()
    _, undo = _forward(fenv, step(OpKind.RMDIR, tree / "d"))
    assert _shape(undo) == [(OpKind.MKDIR, os.fsencode(tree / "d"), None, False, "mkdir")]
    entry = fenv.undo.keep_by_rename(os.fsencode(write(tree / "a")), 9, 0).entry
    _, undo = _forward(fenv, step(OpKind.RESTORE, tree / "a", entry))
    assert _shape(undo) == [(OpKind.DELETE, os.fsencode(tree / "a"), None, False, "remove")]


def test_force_checks_nothing_and_overwrites(fenv: OpEnv, tree: Path) -> None:
    a, b = os.fsencode(write(tree / "a")), os.fsencode(tree / "b")
    (ran,) = run_all(fenv, [step(OpKind.MOVE, a, b)])
    (only,) = inverse_steps(
        ran.step, ran.outcome.post, ran.outcome.digest, batch=FORWARD, store=fenv.undo, force=True
    )
    assert only.expected is None and only.step.digest == b"" and only.step.overwrite


def _call(path: Path, handler: str) -> Step:
    return step(OpKind.CALL, path, handler=handler, args=msgpack.packb({}))


def test_call_restores_and_removes_what_the_handler_declared(
    make_env: Callable[..., OpEnv], tree: Path, handlers_dist: Path
) -> None:
    fenv = make_env(batch=FORWARD)
    path = os.fsencode(write(tree / "a.txt", b"hello"))
    done = run_all(fenv, [_call(tree / "a.txt", "annotate")])
    assert read(path) == b"HELLO" and read(path + b".meta") == b"meta"
    assert fenv.undo.read_manifest(FORWARD, 0) == [path, path + b".meta"]
    undo = plan_rollback(done, batch=FORWARD, store=fenv.undo)
    assert _shape(undo) == [
        (OpKind.RESTORE, path, fenv.undo.path_for(FORWARD, 0), True, "restore"),
        (OpKind.DELETE, path + b".meta", None, False, "remove"),
    ]
    assert undo[0].expected == done[0].outcome.post and undo[1].expected is None
    run_undo(make_env(batch=ROLLBACK), undo)
    assert read(path) == b"hello" and not os.path.exists(path + b".meta")


def test_call_without_manifest(
    make_env: Callable[..., OpEnv], tree: Path, handlers_dist: Path
) -> None:
    plain = make_env(batch=FORWARD, enable_rollback=False)
    with pytest.raises(MissingUndoData, match=r"\.paths"):
        _forward(plain, _call(write(tree / "a"), "upper"))
