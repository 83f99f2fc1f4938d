"""Purges: dropping the undo data of ended batches on request (``purge``) or by the
retention policy, journaled (``BatchPurged``) so that a restart repeats an interrupted one."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from batchd.daemon.batches.batch import Batch
from batchd.daemon.batches.registry import BatchRegistry
from batchd.daemon.journal import Journal
from batchd.daemon.journal.records import BatchPurged
from batchd.daemon.rollback.retention import (
    DAY,
    StoredBatch,
    choose_purges,
    drop_store,
    store_usage,
)
from batchd.protocol.errors import BatchBusy, InvalidArguments
from batchd.protocol.rollback_messages import PurgeReply, PurgeRequest

log = logging.getLogger(__name__)

RETENTION_INTERVAL = 3600.0
"""Seconds between two passes of the retention policy."""


class Purger:
    """Drops undo data; ``undo_root`` is the store directory (``<state>/undo``)."""

    def __init__(
        self,
        registry: BatchRegistry,
        journal: Journal,
        undo_root: Path,
        *,
        max_age_days: float = 0.0,
        quota_bytes: int = 0,
    ) -> None:
        self.registry = registry
        self.journal = journal
        self.undo_root = undo_root
        self.max_age_days = max_age_days
        self.quota_bytes = quota_bytes
        self._next_pass = 0.0

    def restore(self) -> None:
        """Repeat the purges the journal holds whose store is still there (a crash between
        the record and the removal)."""
        for batch in self.registry:
            if batch.purged_at is not None:
                drop_store(self.undo_root / str(batch.id))

    def request(self, request: PurgeRequest, wall: float) -> PurgeReply:
        """Answer ``purge``: the given batches, or every ended batch older than the age."""
        if request.batches and request.older_than_days is not None:
            raise InvalidArguments("give batch ids or older_than_days, not both")
        if request.older_than_days is not None:
            if request.older_than_days < 0:
                raise InvalidArguments("older_than_days must not be negative")
            limit = wall - request.older_than_days * DAY
            batches = [b for b in self._purgeable() if (b.ended_wall or wall) <= limit]
        elif request.batches:
            batches = [self.registry.get(batch_id) for batch_id in sorted(set(request.batches))]
            for batch in batches:
                self._check(batch)
        else:
            raise InvalidArguments("name the batches to purge, or give older_than_days")
        purged, freed = [], 0
        for batch in batches:
            if batch.purged_at is None:
                freed += self.purge(batch, wall)
                purged.append(batch.id)
        return PurgeReply(tuple(purged), freed)

    def purge(self, batch: Batch, wall: float) -> int:
        """Journal the purge, then drop the store; returns the bytes freed."""
        self.journal.append(BatchPurged(batch.id, wall))
        self.journal.commit()  # durable before the files go: a restart then finishes it
        batch.purged_at = wall
        freed = drop_store(self.undo_root / str(batch.id))
        log.info("undo data of batch %d purged (%d bytes freed)", batch.id, freed,
                 extra={"BATCH_ID": batch.id})  # fmt: skip
        return freed

    def apply_retention(self, now: float, wall: float | None = None) -> list[int]:
        """Run the retention policy (at most once an interval); returns the purged ids."""
        if now < self._next_pass or (self.max_age_days <= 0 and self.quota_bytes <= 0):
            return []
        self._next_pass = now + RETENTION_INTERVAL
        wall = time.time() if wall is None else wall
        measure = self.quota_bytes > 0  # walking the store is only needed for the quota
        stored = [
            StoredBatch(
                b.id,
                b.ended_wall or wall,
                store_usage(self.undo_root / str(b.id)) if measure else 0,
            )
            for b in self._purgeable()
        ]
        chosen = choose_purges(
            stored, now=wall, max_age_days=self.max_age_days, quota_bytes=self.quota_bytes
        )
        for batch_id in chosen:
            self.purge(self.registry.get(batch_id), wall)
        return chosen

    def _purgeable(self) -> list[Batch]:
        return [b for b in self.registry if b.purged_at is None and self._busy(b) is None]

    def _busy(self, batch: Batch) -> str | None:
        if batch.ended is None:
            return f"batch {batch.id} has not ended ({batch.state.value})"
        for other in self.registry:
            if batch.id in other.rollback_of and other.ended is None:
                return f"batch {batch.id} is being rolled back by batch {other.id}"
        return None

    def _check(self, batch: Batch) -> None:
        reason = self._busy(batch)
        if reason is not None:
            raise BatchBusy(f"{reason}; its undo data cannot be purged now",
                            {"batch": batch.id, "running": batch.running})  # fmt: skip
