"""rmdir: an empty directory goes; anything added since, or a non-directory, stays."""

from __future__ import annotations

import os
from pathlib import Path

from ops_helpers import step, write

from batchd.daemon.ops.env import OpEnv
from batchd.daemon.ops.runner import run_step
from batchd.daemon.ops.step import ErrorKind, Fingerprint, OpKind


def test_removes_an_empty_directory(env: OpEnv, tree: Path) -> None:
    (tree / "d").mkdir()
    outcome = run_step(step(OpKind.RMDIR, tree / "d"), env)
    assert outcome.ok and outcome.post is None and not (tree / "d").exists()


def test_not_empty_is_a_conflict(env: OpEnv, tree: Path) -> None:
    (tree / "d").mkdir()
    write(tree / "d/new", b"added")
    outcome = run_step(step(OpKind.RMDIR, tree / "d"), env)
    assert outcome.error_kind == ErrorKind.PERMANENT
    assert outcome.error.startswith(f"{tree / 'd'} is not empty: something was added since")
    assert (tree / "d/new").read_bytes() == b"added"


def test_not_a_directory(env: OpEnv, tree: Path) -> None:
    write(tree / "d")
    (tree / "l").symlink_to(tree)
    for name in ("d", "l"):
        outcome = run_step(step(OpKind.RMDIR, tree / name), env)
        assert outcome.error_kind == ErrorKind.PERMANENT and "not a directory" in outcome.error
    assert (tree / "d").exists() and (tree / "l").is_symlink()


def test_gone_is_already_done(env: OpEnv, tree: Path) -> None:
    (tree / "d").mkdir()
    expected = Fingerprint.of(os.lstat(tree / "d"))
    (tree / "d").rmdir()
    outcome = run_step(step(OpKind.RMDIR, tree / "d"), env, expected)
    assert outcome.ok and outcome.result == "already done"
    assert run_step(step(OpKind.RMDIR, tree / "d"), env).result == "already done"
