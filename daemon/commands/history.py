"""``history``: the operation log — submits, ends, rollbacks and purges with their times.
CLI: ``batchctl history [--limit N] [--batch ID]``. Built from the batches' journaled times
(checkpoints keep them), so it covers everything since the state directory was created."""

from __future__ import annotations

from batchd.daemon.batches.batch import Batch
from batchd.daemon.context import DaemonContext
from batchd.protocol.errors import InvalidArguments
from batchd.protocol.rollback_messages import HistoryEvent, HistoryReply, HistoryRequest


def events_of(batch: Batch) -> list[HistoryEvent]:
    """The history events of one batch."""
    who = f" (by {batch.submitted_by})" if batch.submitted_by else ""
    if batch.rollback_of:
        detail = "rollback of " + ", ".join(str(b) for b in batch.rollback_of) + who
        events = [HistoryEvent(batch.submitted_at, "rollback", batch.id, "", detail)]
    else:
        events = [HistoryEvent(batch.submitted_at, "submitted", batch.id, "", batch.name + who)]
    if batch.ended_wall is not None and batch.ran_state is not None:
        events.append(
            HistoryEvent(batch.ended_wall, "ended", batch.id, batch.ran_state.value, batch.name)
        )
    if batch.purged_at is not None:
        events.append(HistoryEvent(batch.purged_at, "purged", batch.id, "", "undo data dropped"))
    return events


def handle(ctx: DaemonContext, request: HistoryRequest) -> HistoryReply:
    """The newest ``limit`` events, oldest first."""
    if request.limit < 1:
        raise InvalidArguments("limit must be at least 1", {"field": "limit"})
    registry = ctx.engine.registry
    if request.batch is not None:
        registry.get(request.batch)  # BatchNotFound for an unknown id
    events: list[HistoryEvent] = []
    for batch in registry:
        if request.batch is None or request.batch in (batch.id, *batch.rollback_of):
            events.extend(events_of(batch))
    events.sort(key=lambda event: (event.time, event.batch))
    return HistoryReply(tuple(events[-request.limit :]))
