"""Runs batches: turns validated uploads into batches, feeds the executor, applies outcomes.

Each public method is one named step of the daemon's main loop (``reap_validations``,
``collect_outcomes``, ``dispatch_ready``, ``publish_events``); the decisions they apply live
in pure modules (``batch``, ``scheduling``, ``retry``, ``progress``).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from batchd.daemon.batches.applier import OutcomeApplier
from batchd.daemon.batches.batch import Batch
from batchd.daemon.batches.publisher import ProgressPublisher
from batchd.daemon.batches.recovery import RecoveredBatch
from batchd.daemon.batches.registry import BatchRegistry
from batchd.daemon.batches.restore import restore_batches
from batchd.daemon.batches.retry import RetryPolicy
from batchd.daemon.batches.scheduling import Candidate, chunk_size, next_batch
from batchd.daemon.batches.uploads import Upload, Uploads
from batchd.daemon.journal import Journal
from batchd.daemon.journal.records import (
    BatchCreated,
    BatchEnded,
    BatchSubmittedBy,
    ItemIntent,
)
from batchd.daemon.ops.step import ABSENT, Fingerprint, Step
from batchd.daemon.plan.store import PlanStore
from batchd.daemon.pool.executor import (
    Chunk,
    Executor,
    ItemFinished,
    StepsReturned,
)
from batchd.protocol.batch_messages import BatchState
from batchd.protocol.events import Event

log = logging.getLogger(__name__)


@dataclass
class EngineSettings:
    """What the engine needs from the configuration."""

    workers: int
    item_timeout: float
    retry: RetryPolicy = field(default_factory=RetryPolicy)


class BatchEngine:
    """All batches of one daemon and the executor that runs their steps."""

    def __init__(
        self,
        *,
        registry: BatchRegistry,
        uploads: Uploads,
        executor: Executor,
        journal: Journal,
        settings: EngineSettings,
        publish: Callable[[Event], None],
    ) -> None:
        self.registry = registry
        self.uploads = uploads
        self.executor = executor
        self.journal = journal
        self.settings = settings
        self.publisher = ProgressPublisher(publish)
        self.outcomes = OutcomeApplier(registry, journal, settings.retry, self.pause)
        self._staged: list[Chunk] = []
        self._unadmitted: list[tuple[int, Batch, Upload]] = []
        self._staged_lsn = 0
        self._next_chunk = 1
        self.ended_hooks: list[Callable[[Batch], None]] = []
        """Called with each batch once its end is journaled (rollback bookkeeping)."""

    def restore(self, recovered: Mapping[int, RecoveredBatch], *, resume: bool, now: float) -> None:
        """Rebuild the journal's batches at start; unfinished ones run on (``resume``) or
        wait as ``interrupted`` for ``batchctl resume``."""
        for batch in restore_batches(self.registry, recovered, resume=resume, now=now):
            self.registry.add(batch)

    # -- loop steps ----------------------------------------------------------------------

    def fds(self) -> list[int]:
        """File descriptors the loop polls for us."""
        return self.executor.fds() + self.uploads.fds()

    def next_deadline(self) -> float | None:
        """The monotonic time by which the loop must call us again."""
        if self.outcomes.waiting:
            return 0.0  # now: outcomes wait to be applied
        times = [self.executor.next_deadline(), self.publisher.next_due()]
        times += [batch.next_wakeup() for batch in self.registry.active()]
        present = [t for t in times if t is not None]
        return min(present) if present else None

    def reap_validations(self, now: float, wall: float) -> None:
        """Turn valid uploads into batches: journal them now, show them once durable."""
        for upload in self.uploads.reap(now):
            assert upload.batch is not None
            store = PlanStore.open(upload.out_dir)
            batch = Batch(
                upload.batch,
                upload.name,
                store,
                priority=upload.priority,
                submitted_at=wall,
                now=now,
            )
            lsn = self.journal.append(
                BatchCreated(
                    batch=batch.id,
                    name=batch.name,
                    total=batch.total,
                    priority=batch.priority,
                    time=wall,
                )
            )
            if upload.submitter:
                batch.submitted_by = upload.submitter
                lsn = self.journal.append(BatchSubmittedBy(batch.id, upload.submitter))
            self._unadmitted.append((lsn, batch, upload))
        self.uploads.expire(now)

    def admit_batches(self, durable_lsn: int) -> None:
        """Batches whose creation is on disk become visible and start: nobody hears of a
        batch, and none of its items runs, before the journal holds it."""
        waiting = []
        for lsn, batch, upload in self._unadmitted:
            if lsn > durable_lsn:
                waiting.append((lsn, batch, upload))
                continue
            self.registry.add(batch)
            self.uploads.accept(upload)
            log.info(
                "batch %d (%r) accepted: %d items",
                batch.id,
                batch.name,
                batch.total,
                extra={"BATCH_ID": batch.id},
            )
        self._unadmitted = waiting

    def collect_outcomes(self, now: float) -> None:
        """Take what the executor reports and apply up to ``EVENTS_PER_TURN`` of it, in order
        (the rest on the next turns, which do not wait in poll)."""
        self.outcomes.add(self.executor.collect(now))
        self.outcomes.apply(now)

    def dispatch_ready(self, now: float) -> None:
        """Choose chunks for the free workers (batches share them fairly) and journal an
        INTENT per step; the chunks start once those records are durable (``start_staged``)."""
        free = self.executor.capacity() - len(self._staged)
        while free > 0:
            active = {batch.id: batch for batch in self.registry.active()}
            chosen = next_batch(
                [Candidate(b.id, b.priority, b.served, b.has_work(now)) for b in active.values()]
            )
            if chosen is None:
                return
            batch = active[chosen]
            size = chunk_size(
                batch.pending_in_level(), self.settings.workers, batch.rate.current(now)
            )
            steps = batch.take(size, now)
            if not steps:
                return
            self._stage(batch, steps)
            free -= 1

    def start_staged(self) -> None:
        """Hand staged chunks to the executor once their intents are on disk."""
        if not self._staged or self.journal.durable_lsn < self._staged_lsn:
            return
        submitted = time.monotonic()
        for chunk in self._staged:
            self.executor.submit(chunk)
            self.outcomes.submitted_at[chunk.chunk_id] = submitted
        self._staged.clear()

    def publish_events(self, now: float, wall: float, subscriptions: Iterable[str]) -> None:
        """Record endings, flush result logs, and publish progress (rate-limited)."""
        for batch in self.registry:
            if batch.ended is not None and not batch.end_journaled:
                batch.end_journaled = True
                batch.ran_state, batch.ended_wall = batch.state, wall
                self.journal.append(BatchEnded(batch=batch.id, state=batch.state.value, time=wall))
                for hook in self.ended_hooks:
                    hook(batch)
                log.info(
                    "batch %d %s: %d completed, %d failed of %d",
                    batch.id,
                    batch.state.value,
                    batch.completed,
                    batch.failed,
                    batch.total,
                    extra={"BATCH_ID": batch.id},
                )
        self.registry.flush()
        self.publisher.publish(list(self.registry), now, wall, subscriptions)

    # -- control -------------------------------------------------------------------------

    def pause(self, batch: Batch, now: float) -> None:
        """Pause a batch: unstarted steps of its chunks come back."""
        batch.pause()
        self._unstage(batch, now)
        self.executor.cancel(batch.id)

    def cancel(self, batch: Batch, now: float) -> None:
        """Cancel a batch: running items finish, the rest are skipped."""
        batch.cancel(now)
        self._unstage(batch, now)
        self.executor.cancel(batch.id)

    def _unstage(self, batch: Batch, now: float) -> None:
        """Chunks still waiting for their intents to be durable never start: their steps
        go back to the batch (an intent without a DONE just means "did not run")."""
        keep = []
        for chunk in self._staged:
            if chunk.batch != batch.id:
                keep.append(chunk)
                continue
            self.outcomes.in_flight.pop(chunk.chunk_id, None)
            self.outcomes.returned(batch, chunk.steps, now)
        self._staged = keep

    def shutdown(self, grace: float) -> None:
        """Let in-flight items finish within ``grace``; unfinished batches are interrupted."""
        now = time.monotonic()
        self.outcomes.apply(now, self.outcomes.waiting)
        for event in self.executor.shutdown(grace):
            if isinstance(event, ItemFinished):
                self.outcomes.finish(event, now)
            elif isinstance(event, StepsReturned):
                self.registry.get(event.batch).returned(event.steps, now)
        for batch in self.registry.active():
            if batch.state in (BatchState.RUNNING, BatchState.PAUSED):
                batch.state = BatchState.INTERRUPTED
        self.uploads.close()
        self.registry.close()

    # -- internals -----------------------------------------------------------------------

    def _stage(self, batch: Batch, steps: list[Step]) -> None:
        chunk_id, self._next_chunk = self._next_chunk, self._next_chunk + 1
        expected: list[Fingerprint | None] = []
        for step in steps:
            before: Fingerprint | None
            if step.index in batch.expected:  # a re-run: the first attempt's pre-state
                before = batch.expected[step.index] or ABSENT
            else:
                before = _fingerprint(step.path)
            expected.append(before)
            fields = before.to_row() if before is not None else [0, 0, 0, 0, 0]
            attempt = batch.attempts[step.index] + 1
            self._staged_lsn = self.journal.append(
                ItemIntent(batch.id, step.index, attempt, *fields)
            )
        self.outcomes.in_flight[chunk_id] = {
            step.index: (step, before) for step, before in zip(steps, expected, strict=True)
        }
        self._staged.append(
            Chunk(
                chunk_id=chunk_id,
                batch=batch.id,
                steps=tuple(steps),
                expected=tuple(expected),
                item_timeout=self.settings.item_timeout,
            )
        )

    def set_storage_error(self, message: str) -> None:
        """The journal cannot be written (``message``), or can again (empty): running
        batches say so in their progress, since nothing of theirs starts meanwhile."""
        for batch in self.registry.active():
            if batch.state is BatchState.RUNNING and not batch.note.startswith("paused"):
                batch.note = f"stalled: {message}" if message else ""


def _fingerprint(path: bytes) -> Fingerprint | None:
    """What ``path`` holds now, or None (absent, or unreadable: the op will say why)."""
    try:
        return Fingerprint.of(os.lstat(path))
    except OSError:
        return None
