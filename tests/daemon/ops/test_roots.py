"""Allowed roots: a walk that never follows a symlink, and the ops acting on what it opened."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from batchd.daemon.ops.env import OpEnv
from batchd.daemon.ops.fs import FileSystem
from batchd.daemon.ops.roots import OutsideRoots, PathGuard
from batchd.daemon.ops.runner import run_step
from batchd.daemon.ops.step import ErrorKind, OpKind, Step
from batchd.daemon.ops.undo import UndoStore


def _b(path: Path) -> bytes:
    return os.fsencode(path)


@pytest.fixture
def world(tmp_path: Path) -> tuple[Path, Path, Path]:
    root, outside, state = tmp_path / "root", tmp_path / "outside", tmp_path / "state"
    for directory in (root / "d", outside, state):
        directory.mkdir(parents=True)
    (outside / "secret").write_text("keep out")
    (root / "d" / "f").write_text("mine")
    os.symlink(outside, root / "link")
    return root, outside, state


def test_root_of_refuses_outside_paths_the_root_itself_and_the_state_dir(
    world: tuple[Path, Path, Path],
) -> None:
    root, outside, state = world
    guard = PathGuard([_b(root)], [_b(state)])
    assert guard.root_of(_b(root / "d" / "f")) == _b(root)
    for path, why in [
        (outside / "secret", "outside the allowed roots"),
        (root, "is an allowed root itself"),
        (state / "undo", "state directory"),
        (Path(str(root) + "x") / "f", "outside the allowed roots"),  # a shared prefix only
    ]:
        with pytest.raises(OutsideRoots, match=why):
            guard.root_of(_b(path))
    with pytest.raises(OutsideRoots, match="no allowed roots"):
        PathGuard([]).root_of(b"/anything")


def test_the_walk_refuses_a_symlinked_directory_and_plans_are_told_why(
    world: tuple[Path, Path, Path],
) -> None:
    root, _, state = world
    guard = PathGuard([_b(root)], [_b(state)])
    fd, name = guard.open_parent(_b(root / "d" / "f"))
    os.close(fd)
    assert name == b"f"
    with pytest.raises(OutsideRoots, match="symlink is never followed"):
        guard.open_parent(_b(root / "link" / "secret"))
    assert "symlink" in (guard.check_plan_path(_b(root / "link" / "secret")) or "")
    assert guard.check_plan_path(_b(root / "d" / "new")) is None
    assert guard.check_plan_path(_b(root / "not-yet" / "x")) is None  # made by an earlier line


def test_ops_under_a_guard_work_inside_and_refuse_through_a_symlink(
    world: tuple[Path, Path, Path],
) -> None:
    root, outside, state = world
    fs = FileSystem(guard=PathGuard([_b(root)], [_b(state)]))
    env = OpEnv(fs=fs, undo=UndoStore(state / "undo", fs), batch=1)
    move = Step(0, 1, OpKind.MOVE, _b(root / "d" / "f"), _b(root / "d" / "g"))
    assert run_step(move, env).ok
    delete = Step(1, 2, OpKind.DELETE, _b(root / "d" / "g"))
    assert run_step(delete, env).ok  # into the store (trusted, by plain path)
    escape = Step(2, 3, OpKind.DELETE, _b(root / "link" / "secret"))
    outcome = run_step(escape, env)
    assert not outcome.ok and outcome.error_kind is ErrorKind.PERMANENT, outcome
    steal = Step(3, 4, OpKind.MOVE, _b(root / "link" / "secret"), _b(root / "d" / "stolen"))
    assert not run_step(steal, env).ok
    assert (outside / "secret").read_text() == "keep out"
    assert not (root / "d" / "stolen").exists()


SWAPPER = """
import os, sys
work, real, outside, stop = sys.argv[1:5]
swaps = 0
while not os.path.exists(stop):
    os.rename(work, real)
    os.symlink(outside, work)
    os.unlink(work)
    os.rename(real, work)
    swaps += 1
print(swaps)
"""


def test_a_symlink_swapped_in_while_moves_run_never_touches_the_outside(
    world: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    # Another process turns the directory w into a symlink to the outside and back,
    # thousands of times, while moves and deletes run inside w: whatever the timing, the
    # walk either reaches the real w or fails; no file outside is ever moved or removed.
    root, outside, state = world
    work, real, stop = root / "w", root / "w.real", tmp_path / "stop"
    work.mkdir()
    names = [f"f{i}" for i in range(200)]
    for name in names:
        (outside / name).write_text("outside")
    before = {name: (outside / name).read_text() for name in os.listdir(outside)}
    fs = FileSystem(guard=PathGuard([_b(root)], [_b(state)]))
    env = OpEnv(fs=fs, undo=UndoStore(state / "undo", fs), batch=1, enable_rollback=False)
    swapper = subprocess.Popen(
        [sys.executable, "-c", SWAPPER, str(work), str(real), str(outside), str(stop)],
        stdout=subprocess.PIPE,
        text=True,
    )
    done = refused = 0
    deadline = time.monotonic() + 2.0
    try:
        while time.monotonic() < deadline:
            for i, name in enumerate(names):
                with contextlib.suppress(OSError):  # (through the guard: never via the link)
                    fd = fs.open(_b(work / name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
                    os.write(fd, b"inside")
                    os.close(fd)
                move = Step(i, 1, OpKind.MOVE, _b(work / name), _b(work / f"m{i}"))
                delete = Step(i, 2, OpKind.DELETE, _b(work / f"m{i}"))
                for step in (move, delete):
                    outcome = run_step(step, env)
                    done += outcome.ok
                    refused += "symlink" in outcome.error
    finally:
        stop.touch()
        out, _ = swapper.communicate(timeout=30)
    assert int(out) > 1000, out  # thousands of swaps happened meanwhile
    assert done > 0 and refused > 0, (done, refused)  # both sides of the race were met
    assert {name: (outside / name).read_text() for name in os.listdir(outside)} == before
