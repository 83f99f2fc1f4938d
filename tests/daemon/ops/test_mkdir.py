"""mkdir: created with the umask, existing directory, existing file, missing parent."""

from __future__ import annotations

import os
from pathlib import Path

from ops_helpers import step, umask, write

from batchd.daemon.ops.env import OpEnv
from batchd.daemon.ops.runner import run_step
from batchd.daemon.ops.step import ErrorKind, OpKind


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
