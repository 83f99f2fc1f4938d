"""Helpers for the rollback tests: a mixed workload, running a batch of steps, planning the
rollback of a run with inverse_steps, inode maps of a tree."""

from __future__ import annotations

import dataclasses
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from ops_helpers import write

from batchd.daemon.ops.env import OpEnv
from batchd.daemon.ops.inverse import UndoStep, inverse_steps
from batchd.daemon.ops.runner import run_step
from batchd.daemon.ops.step import OpKind, Outcome, Step
from batchd.daemon.ops.undo import UndoStore

FORWARD, ROLLBACK, REDO = 1, 2, 3


@dataclass(frozen=True, slots=True)
class Ran:
    """A step and the Outcome of running it."""

    step: Step
    outcome: Outcome


def workload(root: Path) -> list[Step]:
    """Create a small tree under ``root`` and return the forward steps of a batch mixing
    every op: a swap through a plan-style temp name, moves (a file, a directory, onto an
    existing file), copies (new, with overwrite), deletes (a file, a tree with a symlink), a
    transform, mkdirs (new, existing) with a move and a copy into the new one, a checksum."""
    root.mkdir(parents=True)
    (root / "sub").mkdir()
    write(root / "a", b"alpha", 0o640, mtime=1_000_000)
    write(root / "b", b"beta", 0o600, mtime=2_000_000)
    write(root / "m", b"move me", 0o644, mtime=3_000_000)
    write(root / "c", b"copy source", 0o644, mtime=4_000_000)
    write(root / "d", b"old d", 0o604, mtime=5_000_000)
    write(root / "e", b"delete me", 0o644, mtime=6_000_000)
    (root / "gone/y").mkdir(parents=True)
    write(root / "gone/x", b"x", 0o600, mtime=7_000_000)
    write(root / "gone/y/z", b"zz", 0o644, mtime=7_000_001)
    (root / "gone/l").symlink_to("x")
    (root / "gone").chmod(0o750)
    write(root / "f", b"transform me", 0o640, mtime=8_000_000)
    write(root / "g", b"into new dir", 0o644, mtime=9_000_000)
    write(root / "h", b"replaces k", 0o644, mtime=10_000_000)
    write(root / "k", b"replaced by h", 0o644, mtime=11_000_000)
    (root / "dd").mkdir(mode=0o755)
    write(root / "dd/in", b"inside", 0o644, mtime=12_000_000)
    swap = root / f".batchd-park-{FORWARD}-1"  # as the plan names a cycle's temp
    new = root / "new"
    rows: list[tuple[int, OpKind, Path, Path | None, dict[str, object]]] = [
        (1, OpKind.MOVE, root / "a", swap, {}),
        (2, OpKind.MOVE, root / "b", root / "a", {}),
        (1, OpKind.MOVE, swap, root / "b", {}),
        (3, OpKind.MOVE, root / "m", root / "sub/m", {}),
        (4, OpKind.COPY, root / "c", root / "d", {"overwrite": True}),
        (5, OpKind.DELETE, root / "e", None, {}),
        (6, OpKind.DELETE, root / "gone", None, {}),
        (7, OpKind.TRANSFORM, root / "f", None, {"command": ("tr", "a-z", "A-Z")}),
        (8, OpKind.MKDIR, new, None, {}),
        (9, OpKind.MOVE, root / "g", new / "g", {}),
        (10, OpKind.COPY, root / "c", new / "c2", {}),
        (11, OpKind.MOVE, root / "h", root / "k", {"overwrite": True}),
        (12, OpKind.MKDIR, root / "sub", None, {}),
        (13, OpKind.MOVE, root / "dd", root / "sub/dd", {}),
        (14, OpKind.CHECKSUM, root / "c", None, {}),
    ]
    return [
        Step(
            index,
            line,
            op,
            os.fsencode(path),
            None if dest is None else os.fsencode(dest),
            **options,  # type: ignore[arg-type]
        )
        for index, (line, op, path, dest, options) in enumerate(rows)
    ]


def run_all(env: OpEnv, steps: list[Step]) -> list[Ran]:
    """Run ``steps`` in order (no expected fingerprints); every one must succeed."""
    done = []
    for the_step in steps:
        outcome = run_step(the_step, env)
        assert outcome.ok, (the_step, outcome)
        done.append(Ran(the_step, outcome))
    return done


def run_undo(env: OpEnv, undo: list[UndoStep]) -> list[Ran]:
    """Run rollback steps in order, each with its expected fingerprint; all must succeed."""
    done = []
    for item in undo:
        outcome = run_step(item.step, env, item.expected)
        assert outcome.ok, (item, outcome)
        done.append(Ran(item.step, outcome))
    return done


def plan_rollback(
    done: list[Ran], *, batch: int, store: UndoStore, force: bool = False
) -> list[UndoStep]:
    """The rollback of a run, as the daemon plans it: the inverse steps of the completed
    steps, newest first, numbered in order."""
    undo: list[UndoStep] = []
    for ran in reversed(done):
        post, digest = ran.outcome.post, ran.outcome.digest
        for item in inverse_steps(
            ran.step, post, digest, batch=batch, store=store, force=force, result=ran.outcome.result
        ):
            renumbered = dataclasses.replace(item.step, index=len(undo))
            undo.append(dataclasses.replace(item, step=renumbered))
    return undo


def inodes(root: Path) -> dict[bytes, tuple[int, int]]:
    """``{relative path: (dev, ino)}`` of the non-directories under ``root``."""
    found = {}
    base = os.fsencode(root)
    for directory, dirs, files in os.walk(base):
        for name in [*dirs, *files]:
            full = os.path.join(directory, name)
            info = os.lstat(full)
            if not stat.S_ISDIR(info.st_mode):
                found[os.path.relpath(full, base)] = (info.st_dev, info.st_ino)
    return found
