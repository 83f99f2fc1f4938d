"""``history`` events of one batch (daemon/commands/history.py ``events_of``): submits,
ends, rollbacks and purges, from the batch's journaled times."""

from __future__ import annotations

from step_lists import ListSteps

from batchd.daemon.batches.batch import Batch
from batchd.daemon.commands.history import events_of
from batchd.protocol.batch_messages import BatchState
from batchd.protocol.rollback_messages import HistoryEvent


def _batch(batch_id: int, name: str, *, levels: list[int] | None = None) -> Batch:
    return Batch(batch_id, name, ListSteps(levels or []), submitted_at=100.0 * batch_id, now=0.0)


def test_a_running_batch_has_only_its_submit() -> None:
    batch = _batch(1, "photos", levels=[2])
    assert events_of(batch) == [HistoryEvent(100.0, "submitted", 1, "", "photos")]


def test_a_normal_batch_that_ended() -> None:
    batch = _batch(1, "photos")
    batch.ran_state, batch.ended_wall = BatchState.FAILED, 150.0
    batch.state = BatchState.ROLLED_BACK  # what rollbacks show later does not change its end
    assert events_of(batch) == [
        HistoryEvent(100.0, "submitted", 1, "", "photos"),
        HistoryEvent(150.0, "ended", 1, "failed", "photos"),
    ]


def test_an_end_not_journaled_yet_is_not_an_event() -> None:
    batch = _batch(1, "photos")
    assert batch.ended is not None and batch.ended_wall is None
    assert [event.event for event in events_of(batch)] == ["submitted"]


def test_a_rollback_batch() -> None:
    rollback = _batch(3, "rollback of 2, 1")
    rollback.rollback_of = (2, 1)
    rollback.ran_state, rollback.ended_wall = BatchState.COMPLETED, 333.0
    assert events_of(rollback) == [
        HistoryEvent(300.0, "rollback", 3, "", "rollback of 2, 1"),
        HistoryEvent(333.0, "ended", 3, "completed", "rollback of 2, 1"),
    ]


def test_a_purged_batch() -> None:
    batch = _batch(2, "logs")
    batch.ran_state, batch.ended_wall = BatchState.COMPLETED, 210.0
    batch.purged_at = 5000.0
    assert events_of(batch) == [
        HistoryEvent(200.0, "submitted", 2, "", "logs"),
        HistoryEvent(210.0, "ended", 2, "completed", "logs"),
        HistoryEvent(5000.0, "purged", 2, "", "undo data dropped"),
    ]
