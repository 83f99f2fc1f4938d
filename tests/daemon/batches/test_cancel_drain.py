"""Cancel with undecided items: a restored batch's interrupted items (PENDING, with their
journaled pre-state in ``expected``) run once more before the cancelled batch ends."""

from __future__ import annotations

import random

from step_lists import ListSteps

from batchd.daemon.batches.batch import CODES, Batch
from batchd.daemon.batches.recovery import BatchesFold
from batchd.daemon.batches.retry import RetryPolicy
from batchd.daemon.journal.records import BatchControl, BatchCreated, BatchEnded, ItemIntent
from batchd.daemon.ops.step import ErrorKind, Fingerprint, Outcome, Step
from batchd.protocol.batch_messages import BatchState, ItemState

POLICY = RetryPolicy(max_retries=3, base=1.0, cap=4.0)
RNG = random.Random(5)
PENDING, RUNNING = CODES[ItemState.PENDING], CODES[ItemState.RUNNING]
DONE, RETRY_WAIT = CODES[ItemState.COMPLETED], CODES[ItemState.RETRY_WAIT]
FP = Fingerprint(1, 2, 3, 4, 0o100644)


def _restored(
    codes: list[int], expected: dict[int, Fingerprint | None], *, levels: list[int] | None = None,
    state: BatchState = BatchState.RUNNING, ended: bool = False,
) -> Batch:  # fmt: skip
    return Batch.restored(
        1,
        "t",
        ListSteps(levels or [len(codes)]),
        states=bytearray(codes),
        attempts=bytearray(len(codes)),
        expected=dict(expected),
        errors={},
        priority=0,
        submitted_at=1000.0,
        now=0.0,
        state=state,
        ended=ended,
    )


def _ended(batch: Batch) -> float | None:
    """When the batch ended (read through a call: each step may change it)."""
    return batch.ended


def _state(batch: Batch) -> BatchState:
    """The batch's state (read through a call: each step may change it)."""
    return batch.state


def _ok(step: Step) -> Outcome:
    return Outcome(step.index, True)


def _states(batch: Batch) -> list[ItemState]:
    return [batch.item_state(i) for i in range(batch.total)]


def test_undecided_items_stay_runnable_after_cancel() -> None:
    # items 1 (interrupted) and 3 (a crash left it running) are undecided; 0, 2, 4 not
    batch = _restored([DONE, PENDING, PENDING, RUNNING, PENDING], {1: FP, 3: None})
    batch.cancel(1.0)
    assert _state(batch) is BatchState.CANCELLED and _ended(batch) is None
    assert _states(batch) == [ItemState.COMPLETED, ItemState.PENDING, ItemState.SKIPPED,
                              ItemState.PENDING, ItemState.SKIPPED]  # fmt: skip
    assert batch.skipped == 2
    assert batch.has_work(1.0)
    taken = batch.take(10, 1.0)
    assert sorted(s.index for s in taken) == [1, 3]
    assert not batch.has_work(1.0) and batch.take(10, 1.0) == []
    batch.finish(taken[0], _ok(taken[0]), 2.0, POLICY, RNG)
    assert _ended(batch) is None
    batch.finish(taken[1], _ok(taken[1]), 3.0, POLICY, RNG)
    assert _ended(batch) == 3.0 and _state(batch) is BatchState.CANCELLED
    assert batch.completed == 3 and batch.expected == {}


def test_an_undecided_item_on_a_later_level_runs_too() -> None:
    batch = _restored([PENDING, PENDING, PENDING, PENDING], {3: FP}, levels=[2, 2])
    batch.cancel(1.0)
    (step,) = batch.take(10, 1.0)
    assert step.index == 3
    batch.finish(step, _ok(step), 2.0, POLICY, RNG)
    assert _ended(batch) == 2.0 and batch.skipped == 3


def test_a_failed_undecided_item_is_not_retried_after_cancel() -> None:
    batch = _restored([PENDING, PENDING], {0: FP})
    batch.cancel(1.0)
    (step,) = batch.take(10, 1.0)
    batch.finish(step, Outcome.failure(0, ErrorKind.TRANSIENT, "busy"), 2.0, POLICY, RNG)
    assert batch.item_state(0) is ItemState.FAILED and batch.retried == 0
    assert _ended(batch) == 2.0 and _state(batch) is BatchState.CANCELLED
    assert not batch.has_work(100.0)


def test_a_returned_undecided_item_goes_back_to_be_run() -> None:
    batch = _restored([PENDING, PENDING, PENDING], {0: FP, 2: None})
    batch.cancel(1.0)
    taken = batch.take(10, 1.0)
    assert sorted(s.index for s in taken) == [0, 2]
    batch.returned(taken, 2.0)  # the worker died before it started them
    assert _ended(batch) is None and batch.running == 0
    assert batch.item_state(0) is ItemState.PENDING and batch.item_state(2) is ItemState.PENDING
    assert batch.has_work(2.0)
    again = batch.take(10, 2.0)
    assert sorted(s.index for s in again) == [0, 2]
    for step in again:
        batch.finish(step, _ok(step), 3.0, POLICY, RNG)
    assert _ended(batch) == 3.0 and batch.completed == 2


def test_a_returned_decided_item_is_skipped_after_cancel() -> None:
    batch = Batch(1, "t", ListSteps([2]), submitted_at=1000.0, now=0.0)
    taken = batch.take(10, 0.0)
    batch.cancel(1.0)
    assert _ended(batch) is None  # both are still running
    batch.returned(taken, 2.0)
    assert _states(batch) == [ItemState.SKIPPED, ItemState.SKIPPED]
    assert _ended(batch) == 2.0 and not batch.has_work(2.0)


def test_a_batch_restored_as_cancelled_drains_its_undecided_items() -> None:
    batch = _restored([PENDING, PENDING, DONE], {1: FP}, state=BatchState.CANCELLED)
    assert _state(batch) is BatchState.CANCELLED and _ended(batch) is None
    assert batch.item_state(0) is ItemState.SKIPPED
    (step,) = batch.take(10, 1.0)
    assert step.index == 1
    batch.finish(step, _ok(step), 2.0, POLICY, RNG)
    assert _ended(batch) == 2.0 and _state(batch) is BatchState.CANCELLED


def test_a_batch_restored_as_cancelled_without_undecided_items_has_ended() -> None:
    batch = _restored([PENDING, DONE], {}, state=BatchState.CANCELLED)
    assert _ended(batch) == 0.0 and _state(batch) is BatchState.CANCELLED
    assert not batch.has_work(0.0)


def test_plain_cancel_skips_everything_not_started_and_waits_for_running_items() -> None:
    batch = Batch(1, "t", ListSteps([3, 2]), submitted_at=1000.0, now=0.0)
    (first,) = batch.take(1, 0.0)
    batch.cancel(1.0)
    assert _state(batch) is BatchState.CANCELLED and _ended(batch) is None
    assert not batch.has_work(1.0) and batch.take(10, 1.0) == []
    assert batch.skipped == 4
    batch.finish(first, _ok(first), 2.0, POLICY, RNG)
    assert _ended(batch) == 2.0 and batch.completed == 1
    assert _state(batch) is BatchState.CANCELLED


def test_plain_cancel_with_nothing_running_ends_at_once() -> None:
    batch = Batch(1, "t", ListSteps([2]), submitted_at=1000.0, now=0.0)
    batch.cancel(1.0)
    assert _ended(batch) == 1.0 and batch.skipped == 2


def test_retry_waiting_items_are_skipped_on_cancel() -> None:
    batch = Batch(1, "t", ListSteps([1]), submitted_at=1000.0, now=0.0)
    (step,) = batch.take(1, 0.0)
    batch.finish(step, Outcome.failure(0, ErrorKind.TRANSIENT, "busy"), 0.5, POLICY, RNG)
    assert batch.item_states[0] == RETRY_WAIT
    batch.cancel(1.0)
    assert batch.item_state(0) is ItemState.SKIPPED and _ended(batch) == 1.0
    assert batch.next_wakeup() is None and not batch.has_work(100.0)


def test_cancelling_twice_changes_nothing() -> None:
    batch = _restored([PENDING, PENDING], {0: FP})
    batch.cancel(1.0)
    batch.cancel(2.0)
    assert batch.skipped == 1
    assert [s.index for s in batch.take(10, 2.0)] == [0]


def test_progress_counts_add_up_while_draining() -> None:
    batch = _restored([DONE, PENDING, PENDING, PENDING], {2: FP})
    batch.cancel(1.0)
    (step,) = batch.take(10, 1.0)
    progress = batch.progress(1.0, 0.0)
    assert progress.state is BatchState.CANCELLED and progress.running == 1
    batch.finish(step, _ok(step), 2.0, POLICY, RNG)
    done = batch.progress(2.0, 0.0)
    assert (done.completed, done.failed, done.running) == (2, 0, 0)
    assert done.finished_at is not None


def test_a_cancelled_batch_whose_end_was_journaled_stays_ended_after_a_restart() -> None:
    fold = BatchesFold()
    for record in (
        BatchCreated(1, "t", 2, 0, 1000.0),
        ItemIntent(1, 0, 1, 1, 2, 3, 4, 0o100644),  # staged, then returned by the cancel
        BatchControl(1, "cancel", 1001.0),
        BatchEnded(1, BatchState.CANCELLED.value, 1002.0),
    ):
        fold.apply(record)
    found = fold.batches[1]
    assert found.ended is not None
    # what BatchEngine.restore passes for a batch that ended
    batch = _restored(list(found.states), found.expected, state=BatchState(found.ended), ended=True)
    assert _ended(batch) is not None and not batch.has_work(0.0)
