"""Runs batches: turns validated uploads into batches, feeds the executor, applies outcomes.

Each public method is one named step of the daemon's main loop (``reap_validations``,
``collect_outcomes``, ``dispatch_ready``, ``publish_events``); the decisions they apply live
in pure modules (``batch``, ``scheduling``, ``retry``, ``progress``).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from batchd.daemon.batches.batch import Batch
from batchd.daemon.batches.publisher import ProgressPublisher
from batchd.daemon.batches.registry import BatchRegistry
from batchd.daemon.batches.results import ItemResult
from batchd.daemon.batches.retry import RetryPolicy
from batchd.daemon.batches.scheduling import Candidate, chunk_size, next_batch
from batchd.daemon.batches.uploads import Uploads
from batchd.daemon.journal import Journal
from batchd.daemon.journal.records import BatchCreated, BatchEnded
from batchd.daemon.ops.step import Step
from batchd.daemon.plan.store import PlanStore
from batchd.daemon.pool.executor import (
    Chunk,
    ChunkFinished,
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
        self._rng = random.Random()
        self._in_flight: dict[int, dict[int, Step]] = {}
        self._next_chunk = 1

    # -- loop steps ----------------------------------------------------------------------

    def fds(self) -> list[int]:
        """File descriptors the loop polls for us."""
        return self.executor.fds() + self.uploads.fds()

    def next_deadline(self) -> float | None:
        """The monotonic time by which the loop must call us again."""
        times = [self.executor.next_deadline(), self.publisher.next_due()]
        times += [batch.next_wakeup() for batch in self.registry.active()]
        present = [t for t in times if t is not None]
        return min(present) if present else None

    def reap_validations(self, now: float, wall: float) -> None:
        """Turn valid uploads into batches, journaled before anyone hears of them."""
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
            self.registry.add(batch)
            self.journal.append(
                BatchCreated(
                    batch=batch.id,
                    name=batch.name,
                    total=batch.total,
                    priority=batch.priority,
                    time=wall,
                )
            )
            self.uploads.accept(upload)
            log.info("batch %d (%r) accepted: %d items", batch.id, batch.name, batch.total)
        self.uploads.expire(now)

    def collect_outcomes(self, now: float) -> None:
        """Apply everything the executor reports."""
        for event in self.executor.collect(now):
            if isinstance(event, ItemFinished):
                self._finish(event, now)
            elif isinstance(event, StepsReturned):
                steps = self._in_flight.get(event.chunk_id, {})
                for step in event.steps:
                    steps.pop(step.index, None)
                self.registry.get(event.batch).returned(event.steps, now)
            elif isinstance(event, ChunkFinished):
                self._in_flight.pop(event.chunk_id, None)

    def dispatch_ready(self, now: float) -> None:
        """Give free workers chunks, batches sharing them fairly."""
        while self.executor.capacity() > 0:
            active = {batch.id: batch for batch in self.registry.active()}
            chosen = next_batch(
                [Candidate(b.id, b.priority, b.served, b.has_work(now)) for b in active.values()]
            )
            if chosen is None:
                return
            batch = active[chosen]
            size = chunk_size(batch.pending_in_level(), self.settings.workers)
            steps = batch.take(size, now)
            if not steps:
                return
            chunk_id, self._next_chunk = self._next_chunk, self._next_chunk + 1
            self._in_flight[chunk_id] = {step.index: step for step in steps}
            self.executor.submit(
                Chunk(
                    chunk_id=chunk_id,
                    batch=batch.id,
                    steps=tuple(steps),
                    expected=(None,) * len(steps),
                    item_timeout=self.settings.item_timeout,
                )
            )

    def publish_events(self, now: float, wall: float, subscriptions: Iterable[str]) -> None:
        """Record endings, flush result logs, and publish progress (rate-limited)."""
        for batch in self.registry:
            if batch.ended is not None and not batch.end_journaled:
                batch.end_journaled = True
                self.journal.append(BatchEnded(batch=batch.id, state=batch.state.value, time=wall))
                log.info(
                    "batch %d %s: %d completed, %d failed of %d",
                    batch.id,
                    batch.state.value,
                    batch.completed,
                    batch.failed,
                    batch.total,
                )
        self.registry.flush()
        self.publisher.publish(list(self.registry), now, wall, subscriptions)

    # -- control -------------------------------------------------------------------------

    def pause(self, batch: Batch) -> None:
        """Pause a batch: unstarted steps of its chunks come back."""
        batch.pause()
        self.executor.cancel(batch.id)

    def cancel(self, batch: Batch, now: float) -> None:
        """Cancel a batch: running items finish, the rest are skipped."""
        batch.cancel(now)
        self.executor.cancel(batch.id)

    def shutdown(self, grace: float) -> None:
        """Let in-flight items finish within ``grace``; unfinished batches are interrupted."""
        now = time.monotonic()
        for event in self.executor.shutdown(grace):
            if isinstance(event, ItemFinished):
                self._finish(event, now)
            elif isinstance(event, StepsReturned):
                self.registry.get(event.batch).returned(event.steps, now)
        for batch in self.registry.active():
            if batch.state in (BatchState.RUNNING, BatchState.PAUSED):
                batch.state = BatchState.INTERRUPTED
        self.uploads.close()
        self.registry.close()

    # -- internals -----------------------------------------------------------------------

    def _finish(self, event: ItemFinished, now: float) -> None:
        outcome = event.outcome
        step = self._in_flight.get(event.chunk_id, {}).pop(outcome.index, None)
        if step is None:
            log.warning("outcome of an unknown step %d of batch %d", outcome.index, event.batch)
            return
        batch = self.registry.get(event.batch)
        batch.finish(step, outcome, now, self.settings.retry, self._rng)
        self.registry.results(batch.id).append(
            ItemResult(
                index=step.index,
                state=batch.item_state(step.index),
                attempts=batch.attempts[step.index],
                error=outcome.error,
                result=outcome.result,
                diagnostics=outcome.diagnostics,
            )
        )
