"""Batch run-time state, driven by hand with a list of steps (no processes, no sleeps)."""

from __future__ import annotations

import random

from step_lists import ListSteps

from batchd.daemon.batches.batch import Batch
from batchd.daemon.batches.retry import RetryPolicy
from batchd.daemon.ops.step import ErrorKind, Outcome, Step
from batchd.protocol.batch_messages import BatchState, ItemState

POLICY = RetryPolicy(max_retries=2, base=1.0, cap=4.0)


def _batch(*level_sizes: int) -> Batch:
    return Batch(1, "t", ListSteps(level_sizes), submitted_at=1000.0, now=0.0)


def _ok(step: Step) -> Outcome:
    return Outcome(step.index, True)


def _fail(step: Step, kind: ErrorKind) -> Outcome:
    return Outcome.failure(step.index, kind, f"boom {step.index}")


def _check_invariants(batch: Batch, now: float) -> float:
    progress = batch.progress(now, 0.0)
    assert progress.completed + progress.failed + progress.running + progress.pending == (
        progress.total
    )
    assert 0.0 <= progress.progress <= 1.0
    return progress.progress


def test_levels_open_one_after_another() -> None:
    batch = _batch(2, 3)
    first = batch.take(10, 0.0)
    assert [s.index for s in first] == [0, 1]
    assert not batch.has_work(0.0)  # level 1 waits for level 0
    batch.finish(first[0], _ok(first[0]), 0.1, POLICY, random.Random(1))
    assert batch.take(10, 0.1) == []
    batch.finish(first[1], _ok(first[1]), 0.2, POLICY, random.Random(1))
    assert [s.index for s in batch.take(10, 0.2)] == [2, 3, 4]


def test_transient_failure_is_retried_after_backoff_and_counted() -> None:
    batch = _batch(1)
    rng = random.Random(7)
    (step,) = batch.take(1, 0.0)
    batch.finish(step, _fail(step, ErrorKind.TRANSIENT), 0.0, POLICY, rng)
    assert batch.item_state(0) is ItemState.RETRY_WAIT
    assert batch.retried == 1
    wake = batch.next_wakeup()
    assert wake is not None and 0.5 <= wake <= 1.0
    assert batch.take(1, wake - 0.01) == []
    (again,) = batch.take(1, wake)
    batch.finish(again, _fail(again, ErrorKind.TRANSIENT), wake, POLICY, rng)
    (third,) = batch.take(1, 100.0)
    batch.finish(third, _ok(third), 100.0, POLICY, rng)
    assert batch.state is BatchState.COMPLETED
    assert (batch.completed, batch.failed, batch.retried) == (1, 0, 2)


def test_retries_stop_at_the_limit_and_permanent_failures_are_not_retried() -> None:
    batch = _batch(2)
    rng = random.Random(3)
    transient, permanent = batch.take(2, 0.0)
    batch.finish(permanent, _fail(permanent, ErrorKind.PERMANENT), 0.0, POLICY, rng)
    assert batch.item_state(1) is ItemState.FAILED and batch.retried == 0
    now = 0.0
    batch.finish(transient, _fail(transient, ErrorKind.TRANSIENT), now, POLICY, rng)
    for _ in range(POLICY.max_retries):
        now += 10.0
        (step,) = batch.take(1, now)
        batch.finish(step, _fail(step, ErrorKind.TRANSIENT), now, POLICY, rng)
    assert batch.item_state(0) is ItemState.FAILED
    assert batch.attempts[0] == POLICY.max_retries + 1
    assert batch.state is BatchState.FAILED
    assert batch.errors == {0: "boom 0", 1: "boom 1"}


def test_progress_is_consistent_and_monotone_and_eta_appears_after_first_finish() -> None:
    batch = _batch(30, 20)
    rng = random.Random(11)
    now, last = 0.0, 0.0
    assert batch.progress(now, 0.0).eta is None
    while batch.state is BatchState.RUNNING:
        steps = batch.take(4, now)
        last = max(last, _check_invariants(batch, now))
        for step in steps:
            now += 0.05
            kind = ErrorKind.PERMANENT if step.index % 7 == 0 else ErrorKind.NONE
            outcome = _ok(step) if kind is ErrorKind.NONE else _fail(step, kind)
            batch.finish(step, outcome, now, POLICY, rng)
            value = _check_invariants(batch, now)
            assert value >= last
            last = value
            assert batch.progress(now, 0.0).eta is not None
    final = batch.progress(now, 0.0)
    assert final.progress == 1.0 and final.eta == 0.0
    assert final.state is BatchState.FAILED and final.failed == 8


def test_returned_steps_run_again_without_counting_an_attempt() -> None:
    batch = _batch(3)
    steps = batch.take(3, 0.0)
    batch.returned(steps[1:], 0.0)
    assert batch.running == 1
    again = batch.take(3, 0.0)
    assert sorted(s.index for s in again) == [1, 2]
    assert batch.attempts[1] == 0


def test_pause_stops_dispatch_and_resume_restarts_it() -> None:
    batch = _batch(4)
    batch.take(1, 0.0)
    batch.pause()
    assert batch.state is BatchState.PAUSED and not batch.has_work(0.0)
    batch.resume()
    assert [s.index for s in batch.take(10, 0.0)] == [1, 2, 3]


def test_cancel_skips_what_has_not_started_and_ends_when_running_items_finish() -> None:
    batch = _batch(5)
    running = batch.take(2, 0.0)
    batch.cancel(0.0)
    assert batch.state is BatchState.CANCELLED and batch.ended is None
    assert not batch.has_work(0.0)
    for step in running:
        batch.finish(step, _ok(step), 0.1, POLICY, random.Random(1))
    assert batch.ended == 0.1
    assert (batch.completed, batch.skipped) == (2, 3)
    _check_invariants(batch, 0.2)


def test_retry_failed_reruns_only_failed_items() -> None:
    batch = _batch(3, 1)
    rng = random.Random(5)
    for step in batch.take(3, 0.0):
        kind = ErrorKind.PERMANENT if step.index == 1 else ErrorKind.NONE
        outcome = _ok(step) if kind is ErrorKind.NONE else _fail(step, kind)
        batch.finish(step, outcome, 0.0, POLICY, rng)
    (last,) = batch.take(3, 0.0)
    batch.finish(last, _ok(last), 0.0, POLICY, rng)
    assert batch.state is BatchState.FAILED
    assert batch.retry_failed(1.0) == 1
    assert batch.state is BatchState.RUNNING and batch.failed == 0
    (step,) = batch.take(5, 1.0)
    assert step.index == 1
    batch.finish(step, _ok(step), 1.0, POLICY, rng)
    assert batch.state is BatchState.COMPLETED and batch.completed == 4


def test_empty_batch_is_complete_at_once() -> None:
    batch = _batch()
    assert batch.state is BatchState.COMPLETED
    assert batch.progress(0.0, 0.0).progress == 1.0


def test_rate_is_frozen_once_the_batch_ended() -> None:
    batch = _batch(4)
    for step in batch.take(4, 0.0):
        batch.finish(step, _ok(step), 2.0, POLICY, random.Random(1))
    assert batch.progress(2.0, 0.0).rate == 2.0
    assert batch.progress(500.0, 0.0).rate == 2.0
