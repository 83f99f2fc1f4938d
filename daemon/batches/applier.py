"""Applying what the executor reports to the batches: each outcome becomes the item's new
state, a DONE record and a result row; steps handed back go back to their batch (a cancelled
batch skips them, with a DONE saying so); a full disk pauses the batch.

Events wait in a backlog and are applied ``EVENTS_PER_TURN`` at a time, so that one turn of
the daemon's loop stays short however fast items finish.
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Final

from batchd.daemon.batches.batch import CODES, Batch
from batchd.daemon.batches.registry import BatchRegistry
from batchd.daemon.batches.results import ItemResult
from batchd.daemon.batches.retry import RetryPolicy
from batchd.daemon.journal import Journal
from batchd.daemon.journal.records import BatchControl, ItemDone
from batchd.daemon.ops.step import ABSENT, ErrorKind, Fingerprint, Step
from batchd.daemon.pool.executor import (
    ChunkFinished,
    ExecutorEvent,
    ItemFinished,
    StepsReturned,
)
from batchd.protocol.batch_messages import BatchState, ItemState

log = logging.getLogger(__name__)

_SKIPPED = CODES[ItemState.SKIPPED]
EVENTS_PER_TURN: Final = 64
"""Executor events (mostly outcomes) applied per loop turn at most, so that the loop looks
at its sockets every ~2 ms however fast items finish: a worker reports up to 128 outcomes in
one message, and applying one costs the loop ~25 µs."""


class OutcomeApplier:
    """The engine's side of the executor's events, with the steps they concern."""

    def __init__(
        self,
        registry: BatchRegistry,
        journal: Journal,
        retry: RetryPolicy,
        pause: Callable[[Batch, float], None],
    ) -> None:
        self.registry = registry
        self.journal = journal
        self.retry = retry
        self._pause = pause
        self._rng = random.Random()
        self.in_flight: dict[int, dict[int, tuple[Step, Fingerprint | None]]] = {}
        """Chunk id -> the steps sent with it, by index, each with its expected pre-state."""
        self.submitted_at: dict[int, float] = {}
        """Chunk id -> when it went to the executor (monotonic)."""
        self.item_observer: Callable[[ItemState, float], None] | None = None
        """Called with each applied outcome's new state and its latency: seconds since its
        chunk went to the executor (daemon/metrics.py)."""
        self._backlog: deque[ExecutorEvent] = deque()

    def add(self, events: Iterable[ExecutorEvent]) -> None:
        """Queue events, in the order the executor reported them."""
        self._backlog.extend(events)

    @property
    def waiting(self) -> int:
        """Events queued and not applied yet."""
        return len(self._backlog)

    def apply(self, now: float, limit: int = EVENTS_PER_TURN) -> None:
        """Apply up to ``limit`` of the waiting events, oldest first."""
        backlog = self._backlog
        for _ in range(min(limit, len(backlog))):
            event = backlog.popleft()
            if isinstance(event, ItemFinished):
                self.finish(event, now)
            elif isinstance(event, StepsReturned):
                in_flight = self.in_flight.get(event.chunk_id, {})
                for step in event.steps:
                    in_flight.pop(step.index, None)
                self.returned(self.registry.get(event.batch), event.steps, now)
            elif isinstance(event, ChunkFinished):
                self.in_flight.pop(event.chunk_id, None)
                self.submitted_at.pop(event.chunk_id, None)

    def returned(self, batch: Batch, steps: Sequence[Step], now: float) -> None:
        """Steps handed back unstarted after their INTENT was journaled: a cancelled batch
        skips them, and a DONE says so, or a restart would take them for interrupted."""
        batch.returned(steps, now)
        for step in steps:
            if batch.item_states[step.index] == _SKIPPED:
                self.journal.append(
                    ItemDone(batch.id, step.index, _SKIPPED, batch.attempts[step.index],
                             "skipped: the batch was cancelled", "", 0, 0, 0, 0, 0, b"")
                )  # fmt: skip

    def finish(self, event: ItemFinished, now: float) -> None:
        """Apply one outcome: the item's new state, its DONE record and its result row."""
        outcome = event.outcome
        entry = self.in_flight.get(event.chunk_id, {}).pop(outcome.index, None)
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
        batch.finish(step, outcome, now, self.retry, self._rng)
        state = batch.item_state(step.index)
        if self.item_observer is not None:
            self.item_observer(state, now - self.submitted_at.get(event.chunk_id, now))
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

    def _paused_by_full_disk(
        self, batch: Batch, step: Step, before: Fingerprint | None, error: str, now: float
    ) -> None:
        """A full filesystem: the step goes back unfinished (its next run converges against
        its first pre-state) and the batch pauses until space is freed and it is resumed."""
        batch.expected.setdefault(step.index, before)
        batch.returned([step], now)
        if batch.state is BatchState.RUNNING:
            self._pause(batch, now)
            self.journal.append(BatchControl(batch.id, "pause", time.time()))
            batch.note = f"paused by a full disk (line {step.line}): {error}"
            log.error("batch %d paused by a full disk: %s", batch.id, error,
                      extra=_item_fields(batch.id, step))  # fmt: skip


def _item_fields(batch_id: int, step: Step) -> dict[str, object]:
    """journald fields of an item's log records (``journalctl BATCH_ID=3 OP=move``)."""
    return {
        "BATCH_ID": batch_id,
        "ITEM": step.line,
        "OP": step.op.name.lower(),
        "PATH": os.fsdecode(step.path),
    }
