"""Runs batches: turns validated uploads into batches, feeds the executor, applies outcomes.

Each public method is one named step of the daemon's main loop (``reap_validations``,
``collect_outcomes``, ``dispatch_ready``, ``publish_events``); the decisions they apply live
in pure modules (``batch``, ``scheduling``, ``retry``, ``progress``).
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from batchd.daemon.batches.batch import CODES, Batch
from batchd.daemon.batches.publisher import ProgressPublisher
from batchd.daemon.batches.recovery import RecoveredBatch
from batchd.daemon.batches.registry import BatchRegistry
from batchd.daemon.batches.restore import restore_batches
from batchd.daemon.batches.results import ItemResult
from batchd.daemon.batches.retry import RetryPolicy
from batchd.daemon.batches.scheduling import Candidate, chunk_size, next_batch
from batchd.daemon.batches.uploads import Upload, Uploads
from batchd.daemon.journal import Journal
from batchd.daemon.journal.records import (
    BatchControl,
    BatchCreated,
    BatchEnded,
    BatchSubmittedBy,
    ItemDone,
    ItemIntent,
)
from batchd.daemon.ops.step import ABSENT, ErrorKind, Fingerprint, Step
from batchd.daemon.plan.store import PlanStore
from batchd.daemon.pool.executor import (
    Chunk,
    ChunkFinished,
    Executor,
    ExecutorEvent,
    ItemFinished,
    StepsReturned,
)
from batchd.protocol.batch_messages import BatchState, ItemState
from batchd.protocol.events import Event

log = logging.getLogger(__name__)

_SKIPPED = CODES[ItemState.SKIPPED]
EVENTS_PER_TURN: Final = 64
"""Executor events (mostly outcomes) applied per loop turn at most, so that the loop looks
at its sockets every ~2 ms however fast items finish: a worker reports up to 128 outcomes in
one message, and applying one costs the loop ~25 µs."""


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
        self._in_flight: dict[int, dict[int, tuple[Step, Fingerprint | None]]] = {}
        self._staged: list[Chunk] = []
        self._unadmitted: list[tuple[int, Batch, Upload]] = []
        self._staged_lsn = 0
        self._next_chunk = 1
        self.ended_hooks: list[Callable[[Batch], None]] = []
        """Called with each batch once its end is journaled (rollback bookkeeping)."""
        self.item_observer: Callable[[ItemState, float], None] | None = None
        """Called with each applied outcome's new state and its latency: seconds since its
        chunk went to the executor (daemon/metrics.py)."""
        self._submitted_at: dict[int, float] = {}
        self._backlog: deque[ExecutorEvent] = deque()
        """Events collected from the executor, not applied yet (``EVENTS_PER_TURN``)."""

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
        if self._backlog:
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
        self._backlog.extend(self.executor.collect(now))
        self._apply_backlog(now, EVENTS_PER_TURN)

    def _apply_backlog(self, now: float, limit: int) -> None:
        backlog = self._backlog
        for _ in range(min(limit, len(backlog))):
            event = backlog.popleft()
            if isinstance(event, ItemFinished):
                self._finish(event, now)
            elif isinstance(event, StepsReturned):
                in_flight = self._in_flight.get(event.chunk_id, {})
                for step in event.steps:
                    in_flight.pop(step.index, None)
                self._returned(self.registry.get(event.batch), event.steps, now)
            elif isinstance(event, ChunkFinished):
                self._in_flight.pop(event.chunk_id, None)
                self._submitted_at.pop(event.chunk_id, None)

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
            self._submitted_at[chunk.chunk_id] = submitted
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
            self._in_flight.pop(chunk.chunk_id, None)
            self._returned(batch, chunk.steps, now)
        self._staged = keep

    def shutdown(self, grace: float) -> None:
        """Let in-flight items finish within ``grace``; unfinished batches are interrupted."""
        now = time.monotonic()
        self._apply_backlog(now, len(self._backlog))
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
        self._in_flight[chunk_id] = {
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

    def _paused_by_full_disk(
        self, batch: Batch, step: Step, before: Fingerprint | None, error: str, now: float
    ) -> None:
        """A full filesystem: the step goes back unfinished (its next run converges against
        its first pre-state) and the batch pauses until space is freed and it is resumed."""
        batch.expected.setdefault(step.index, before)
        batch.returned([step], now)
        if batch.state is BatchState.RUNNING:
            self.pause(batch, now)
            self.journal.append(BatchControl(batch.id, "pause", time.time()))
            batch.note = f"paused by a full disk (line {step.line}): {error}"
            log.error("batch %d paused by a full disk: %s", batch.id, error,
                      extra=_item_fields(batch.id, step))  # fmt: skip

    def set_storage_error(self, message: str) -> None:
        """The journal cannot be written (``message``), or can again (empty): running
        batches say so in their progress, since nothing of theirs starts meanwhile."""
        for batch in self.registry.active():
            if batch.state is BatchState.RUNNING and not batch.note.startswith("paused"):
                batch.note = f"stalled: {message}" if message else ""

    def _returned(self, batch: Batch, steps: Sequence[Step], now: float) -> None:
        """Steps handed back unstarted after their INTENT was journaled: a cancelled batch
        skips them, and a DONE says so, or a restart would take them for interrupted."""
        batch.returned(steps, now)
        for step in steps:
            if batch.item_states[step.index] == _SKIPPED:
                self.journal.append(
                    ItemDone(batch.id, step.index, _SKIPPED, batch.attempts[step.index],
                             "skipped: the batch was cancelled", "", 0, 0, 0, 0, 0, b"")
                )  # fmt: skip

    def _finish(self, event: ItemFinished, now: float) -> None:
        outcome = event.outcome
        entry = self._in_flight.get(event.chunk_id, {}).pop(outcome.index, None)
        if entry is None:
            log.warning(
                "outcome of an unknown step %d of batch %d",
                outcome.index,
                event.batch,
                extra={"BATCH_ID": event.batch},
            )
            return
        step, before = entry
        batch = self.registry.get(event.batch)
        if outcome.error_kind is ErrorKind.NO_SPACE and batch.state is not BatchState.CANCELLED:
            self._paused_by_full_disk(batch, step, before, outcome.error, now)
            return
        batch.finish(step, outcome, now, self.settings.retry, self._rng)
        state = batch.item_state(step.index)
        if self.item_observer is not None:
            self.item_observer(state, now - self._submitted_at.get(event.chunk_id, now))
        if state is ItemState.RETRY_WAIT:
            batch.expected.setdefault(step.index, before)
        if state is ItemState.FAILED:
            log.warning(
                "batch %d line %d (%s %s) failed: %s",
                batch.id,
                step.line,
                step.op.name.lower(),
                os.fsdecode(step.path),
                outcome.error,
                extra=_item_fields(batch.id, step),
            )
        post = outcome.post or ABSENT
        attempts = batch.attempts[step.index]
        self.journal.append(
            ItemDone(
                event.batch,
                step.index,
                CODES[state],
                attempts,
                outcome.error,
                outcome.result,
                post.dev,
                post.ino,
                post.size,
                post.mtime_ns,
                post.mode,
                outcome.digest,
            )
        )
        self.registry.results(batch.id).append(
            ItemResult(
                index=step.index,
                state=state,
                attempts=attempts,
                error=outcome.error,
                result=outcome.result,
                diagnostics=outcome.diagnostics,
                post=outcome.post,
                digest=outcome.digest,
            )
        )


def _item_fields(batch_id: int, step: Step) -> dict[str, object]:
    """journald fields of an item's log records (``journalctl BATCH_ID=3 OP=move``)."""
    return {
        "BATCH_ID": batch_id,
        "ITEM": step.line,
        "OP": step.op.name.lower(),
        "PATH": os.fsdecode(step.path),
    }


def _fingerprint(path: bytes) -> Fingerprint | None:
    """What ``path`` holds now, or None (absent, or unreadable: the op will say why)."""
    try:
        return Fingerprint.of(os.lstat(path))
    except OSError:
        return None
