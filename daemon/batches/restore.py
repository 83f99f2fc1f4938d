"""Start-up: the batches the journal recovered, rebuilt as run-time :class:`Batch` objects."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping

from batchd.daemon.batches.batch import Batch
from batchd.daemon.batches.recovery import RecoveredBatch
from batchd.daemon.batches.registry import BatchRegistry
from batchd.daemon.plan.store import PlanStore, PlanStoreError
from batchd.protocol.batch_messages import BatchState

log = logging.getLogger(__name__)


def restore_batches(
    registry: BatchRegistry, recovered: Mapping[int, RecoveredBatch], *, resume: bool, now: float
) -> Iterator[Batch]:
    """Each recovered batch whose plan store opens, in id order: ended ones with their final
    state, unfinished ones running (``resume``) or ``interrupted``, paused and cancelled ones
    as they were. A batch whose plan store is unusable is logged and left out."""
    for batch_id in sorted(recovered):
        found = recovered[batch_id]
        try:
            store = PlanStore.open(registry.directory(batch_id))
        except PlanStoreError as exc:
            log.error(
                "batch %d cannot be restored: %s", batch_id, exc, extra={"BATCH_ID": batch_id}
            )
            continue
        batch = _rebuilt(found, store, resume=resume, now=now)
        if found.ended is None:
            log.info(
                "batch %d restored %s: %d of %d items done, %d interrupted",
                batch_id,
                batch.state.value,
                batch.completed + batch.failed,
                batch.total,
                len(found.interrupted),
                extra={"BATCH_ID": batch_id},
            )
        yield batch


def _rebuilt(found: RecoveredBatch, store: PlanStore, *, resume: bool, now: float) -> Batch:
    created = found.created
    if found.ended is not None:
        state = BatchState(found.ended)
    elif found.cancelled:
        state = BatchState.CANCELLED
    elif found.paused:
        state = BatchState.PAUSED
    else:
        state = BatchState.RUNNING if resume else BatchState.INTERRUPTED
    batch = Batch.restored(
        created.batch,
        created.name,
        store,
        states=found.states,
        attempts=found.attempts,
        expected=found.expected,
        errors=found.errors,
        priority=created.priority,
        submitted_at=created.time,
        now=now,
        state=state,
        ended=found.ended is not None,
    )
    batch.end_journaled = found.ended is not None
    batch.ran_state = None if found.ended is None else BatchState(found.ended)
    batch.ended_wall = found.ended_time if found.ended is not None else None
    batch.rollback_of = tuple(found.rollback_of)
    batch.purged_at = found.purged_at
    batch.submitted_by = found.submitted_by
    return batch
