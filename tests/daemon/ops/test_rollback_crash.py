"""A crash at every hook point of a rollback: re-running the rollback as the engine would (the
crashed step with the pre-state of its latest INTENT, or what its path held before it started
when it announced none; the steps that never started as planned) converges to the original
tree without leftover temps, also when the re-run itself crashes once more."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ops_helpers import Crash, CrashAt, snapshot, temps_in
from rollback_helpers import FORWARD, ROLLBACK, plan_rollback, run_all, workload

from batchd.daemon.ops.env import Intent, OpEnv
from batchd.daemon.ops.fs import Hook, no_hook
from batchd.daemon.ops.inverse import UndoStep
from batchd.daemon.ops.runner import run_step
from batchd.daemon.ops.step import Fingerprint, Step

Snapshot = dict[bytes, tuple[object, ...]]
SECOND_CRASH_EVERY = 5  # crash the re-run too for every 5th point (a sample keeps it quick)


class Journal:
    """Keeps the pre-state of the latest INTENT each step announced, as the journal does."""

    def __init__(self) -> None:
        self.pre: dict[int, Fingerprint | None] = {}

    def __call__(self, step: Step, intent: Intent) -> None:
        self.pre[step.index] = intent.pre


@dataclass(frozen=True, slots=True)
class Stopped:
    """Where a rollback run crashed: the step's position and the ``expected`` the engine
    re-runs it with: its latest INTENT's pre-state, else what its path held before."""

    position: int
    expected: Fingerprint | None


def _pre(path: bytes) -> Fingerprint | None:
    """What ``path`` holds (read without the hook: not a hook point)."""
    try:
        return Fingerprint.of(os.lstat(path))
    except FileNotFoundError:
        return None


def _resume(
    env: OpEnv, journal: Journal, undo: list[UndoStep], stopped: Stopped | None = None
) -> Stopped | None:
    """Run the rollback from the start, or from where ``stopped`` says; return where a Crash
    stopped it (None when every step succeeded)."""
    start = 0 if stopped is None else stopped.position
    for position in range(start, len(undo)):
        item = undo[position]
        expected = item.expected
        before = _pre(item.step.path)
        if stopped is not None and position == start:
            expected = before = stopped.expected
        try:
            outcome = run_step(item.step, env, expected)
        except Crash:
            index = item.step.index
            return Stopped(position, journal.pre.get(index, before))
        assert outcome.ok, (position, item, outcome)
    return None


def test_every_crash_point_during_rollback(make_env: Callable[..., OpEnv], tmp_path: Path) -> None:
    def prepare(name: str) -> tuple[Path, Path, list[UndoStep], Snapshot]:
        root, store = tmp_path / name / "t", tmp_path / name / "undo"
        steps = workload(root)
        original = snapshot(root)
        forward = make_env(store=store, batch=FORWARD)
        done = run_all(forward, steps)
        return root, store, plan_rollback(done, batch=FORWARD, store=forward.undo), original

    journal = Journal()

    def env(store: Path, hook: Hook = no_hook) -> OpEnv:
        return make_env(hook, store=store, batch=ROLLBACK, intent=journal)

    root, store, undo, want = prepare("count")
    counter = CrashAt()
    assert _resume(env(store, counter), journal, undo) is None
    assert snapshot(root) == want
    total = len(counter.calls)
    assert total > 100
    second_crashes = 0
    for at in range(total):
        root, store, undo, want = prepare(f"c{at}")
        journal.pre.clear()
        where = f"crash at hook {at} {counter.calls[at]}"
        stopped = _resume(env(store, CrashAt(at)), journal, undo)
        assert stopped is not None, where
        if at % SECOND_CRASH_EVERY == 0:
            again = _resume(env(store, CrashAt(at % 37)), journal, undo, stopped)
            second_crashes += again is not None
            if again is not None:
                assert _resume(env(store), journal, undo, again) is None, where
        else:
            assert _resume(env(store), journal, undo, stopped) is None, where
        assert snapshot(root) == want, where
        assert temps_in(root) == [], where
    assert second_crashes > total // SECOND_CRASH_EVERY // 2


def test_forced_rollback_survives_crashes(make_env: Callable[..., OpEnv], tmp_path: Path) -> None:
    """A forced rollback (nothing checked, everything in the way replaced) converges too
    (a sample of the crash points)."""
    journal = Journal()

    def crash_and_resume(name: str, at: int) -> int:
        root, store = tmp_path / name / "t", tmp_path / name / "undo"
        steps = workload(root)
        want = snapshot(root)
        forward = make_env(store=store, batch=FORWARD)
        undo = plan_rollback(run_all(forward, steps), batch=FORWARD, store=forward.undo, force=True)
        assert all(u.expected is None and not u.step.digest for u in undo)
        journal.pre.clear()
        hook = CrashAt(at)
        stopped = _resume(
            make_env(hook, store=store, batch=ROLLBACK, intent=journal), journal, undo
        )
        if stopped is not None:
            resumed = make_env(store=store, batch=ROLLBACK, intent=journal)
            assert _resume(resumed, journal, undo, stopped) is None, (at, hook.calls[-1])
        assert snapshot(root) == want and temps_in(root) == [], at
        return len(hook.calls)

    total = crash_and_resume("count", -1)
    for at in range(0, total, 6):
        crash_and_resume(f"c{at}", at)
