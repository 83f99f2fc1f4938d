"""mkdir: created with the umask, existing directory, existing file, missing parent."""

from __future__ import annotations

import os
from pathlib import Path

from ops_helpers import step, umask, write

from batchd.daemon.ops.env import OpEnv
from batchd.daemon.ops.runner import run_step
from batchd.daemon.ops.step import ABSENT, ErrorKind, OpKind, Step


def test_created_with_umask(env: OpEnv, tree: Path) -> None:
    with umask(0o027):
        outcome = run_step(step(OpKind.MKDIR, tree / "new"), env)
    assert outcome.ok and outcome.result == "created"
    assert os.lstat(tree / "new").st_mode & 0o777 == 0o750


def test_existing_directory_is_exists(env: OpEnv, tree: Path) -> None:
    (tree / "d").mkdir()
    outcome = run_step(step(OpKind.MKDIR, tree / "d"), env)
    assert outcome.ok and outcome.result == "exists"


def test_existing_file_and_missing_parent_are_permanent(env: OpEnv, tree: Path) -> None:
    write(tree / "f")
    on_file = run_step(step(OpKind.MKDIR, tree / "f"), env)
    orphan = run_step(step(OpKind.MKDIR, tree / "no/parent"), env)
    assert on_file.error_kind == orphan.error_kind == ErrorKind.PERMANENT
    assert "not a directory" in on_file.error and "parent directory" in orphan.error


def test_a_rerun_after_a_crash_reports_the_directory_as_created(env: OpEnv, tree: Path) -> None:
    # The INTENT said nothing was there (ABSENT); the crashed run made the directory, so the
    # re-run must say "created", or a rollback would leave the directory behind.
    target = tree / "made"
    step = Step(0, 1, OpKind.MKDIR, os.fsencode(target))
    assert run_step(step, env, ABSENT).result == "created"
    again = run_step(step, env, ABSENT)
    assert again.ok and again.result == "created"
    assert run_step(step, env, None).result == "exists"  # a plain run: it was there before
