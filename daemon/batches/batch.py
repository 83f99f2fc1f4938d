"""One batch at run time: compact per-item state and the decisions of what runs next.

Per-item state lives in two ``bytearray``s (state code, attempts), so a million-item batch
costs two megabytes here; the steps themselves stay in the plan store on disk and are read a
chunk at a time. Steps run level by level (the plan validator put dependent steps on later
levels); a level opens once every step of the previous one reached a final state. This class
does no I/O of its own beyond reading steps from its ``StepSource``.
"""

from __future__ import annotations

import heapq
import random
from collections import deque
from collections.abc import Sequence
from typing import Final, Protocol

from batchd.daemon.batches.progress import RateMeter, estimate_eta, fraction_done
from batchd.daemon.batches.retry import RetryPolicy
from batchd.daemon.ops.step import Fingerprint, Outcome, Step
from batchd.daemon.plan.store import LevelSpan
from batchd.protocol.batch_messages import BatchProgress, BatchState, ItemState
from batchd.protocol.events import ItemChange

CODES: Final = {state: code for code, state in enumerate(ItemState)}
STATES: Final = tuple(ItemState)
_PENDING: Final = CODES[ItemState.PENDING]
_RUNNING: Final = CODES[ItemState.RUNNING]
_RETRY_WAIT: Final = CODES[ItemState.RETRY_WAIT]
_COMPLETED: Final = CODES[ItemState.COMPLETED]
_FAILED: Final = CODES[ItemState.FAILED]
_SKIPPED: Final = CODES[ItemState.SKIPPED]
_FINAL: Final = (_COMPLETED, _FAILED, _SKIPPED)
MAX_NOTED_CHANGES: Final = 200


class StepSource(Protocol):
    """Where a batch's steps are kept (the plan store, or a list in tests)."""

    @property
    def total(self) -> int:
        """Number of steps."""

    @property
    def levels(self) -> Sequence[LevelSpan]:
        """The dependency levels in execution order."""

    def read(self, first: int, count: int) -> list[Step]:
        """Steps ``first`` .. ``first + count - 1``."""


class Batch:
    """Run-time state of one batch; the daemon's loop drives it."""

    def __init__(
        self,
        batch_id: int,
        name: str,
        steps: StepSource,
        *,
        priority: int = 0,
        submitted_at: float,
        now: float,
    ) -> None:
        self.id = batch_id
        self.name = name
        self.steps = steps
        self.priority = priority
        self.submitted_at = submitted_at
        self.end_journaled = False
        self.started = now
        self.ended: float | None = None
        self.state = BatchState.RUNNING
        self.total = steps.total
        self.item_states = bytearray(self.total)
        self.attempts = bytearray(self.total)
        self.errors: dict[int, str] = {}
        self.expected: dict[int, Fingerprint | None] = {}
        """Original pre-state of items that must converge against it when they run again
        (interrupted by a crash, or failed transiently)."""
        self.rollback_of: tuple[int, ...] = ()
        """The batches this one rolls back (a rollback batch), newest first."""
        self.undone: bytearray | None = None
        """1 for each item a rollback undid (None until one did)."""
        self.ran_state: BatchState | None = None
        """The state the batch ended in by running (rollbacks change ``state`` later)."""
        self.ended_wall: float | None = None
        self.purged_at: float | None = None
        self.submitted_by = ""
        self.note = ""
        """Why the batch does not move on its own (a full disk paused it), for progress."""
        self.completed = self.failed = self.running = self.retried = self.skipped = 0
        self.rate = RateMeter(started=now)
        self.changes: list[ItemChange] = []
        self.changes_dropped = 0
        self.served = 0
        self._levels = list(steps.levels)
        self._level = -1
        self._cursor = self._level_end = 0
        self._open_in_level = 0
        self._requeued: deque[int] = deque()
        self._retries: list[tuple[float, int]] = []
        self._enter_level(0)
        self._after_change(now)  # an empty batch is complete at once

    # -- what runs next ------------------------------------------------------------------

    def has_work(self, now: float) -> bool:
        """True when ``take`` would return something now."""
        if self.state is BatchState.CANCELLED:
            return bool(self._requeued)  # undecided items being reconciled
        if self.state is not BatchState.RUNNING:
            return False
        return bool(
            self._requeued
            or (self._retries and self._retries[0][0] <= now)
            or self._next_pending() is not None
        )

    def next_wakeup(self) -> float | None:
        """Monotonic time of the earliest scheduled retry, if any."""
        return self._retries[0][0] if self._retries and self.state is BatchState.RUNNING else None

    def take(self, limit: int, now: float) -> list[Step]:
        """Mark up to ``limit`` steps as running and return them."""
        picked: list[int] = []
        while self._requeued and len(picked) < limit:
            picked.append(self._requeued.popleft())
        while self._retries and self._retries[0][0] <= now and len(picked) < limit:
            picked.append(heapq.heappop(self._retries)[1])
        run: list[int] = []
        while len(picked) + len(run) < limit and self.state is not BatchState.CANCELLED:
            index = self._next_pending()
            if index is None:
                break
            run.append(index)
            self._cursor = index + 1
        for index in picked + run:
            self.item_states[index] = _RUNNING
        self.running += len(picked) + len(run)
        self.served += len(picked) + len(run)
        steps = [step for index in picked for step in self.steps.read(index, 1)]
        if run:
            # `run` is ascending and contiguous but for items a retry pass skips over.
            wanted = set(run)
            span = self.steps.read(run[0], run[-1] - run[0] + 1)
            steps += [step for step in span if step.index in wanted]
        return steps

    def pending_in_level(self) -> int:
        """Steps of the open level not yet started (for sizing chunks)."""
        return max(0, self._level_end - self._cursor) + len(self._requeued)

    @classmethod
    def restored(
        cls,
        batch_id: int,
        name: str,
        steps: StepSource,
        *,
        states: bytearray,
        attempts: bytearray,
        expected: dict[int, Fingerprint | None],
        errors: dict[int, str],
        priority: int,
        submitted_at: float,
        now: float,
        state: BatchState,
        ended: bool = False,
    ) -> Batch:
        """A batch rebuilt from the journal: items that ended stay ended; interrupted and
        retry-waiting items run again (against their ``expected`` pre-state)."""
        batch = cls(batch_id, name, steps, priority=priority, submitted_at=submitted_at, now=now)
        for code in (_RUNNING, _RETRY_WAIT):  # neither survives a restart
            states[:] = states.replace(bytes([code]), bytes([_PENDING]))
        batch.item_states, batch.attempts = states, attempts
        batch.expected, batch.errors = expected, errors
        batch.completed = states.count(_COMPLETED)
        batch.failed = states.count(_FAILED)
        batch.skipped = states.count(_SKIPPED)
        batch.ended = None
        batch.state = BatchState.RUNNING if state is BatchState.CANCELLED else state
        if state is BatchState.CANCELLED:
            # An ended batch stays ended: items staged when it was cancelled have an INTENT
            # but never ran (older journals lack their SKIPPED DONE); draining them would run
            # them after the user cancelled, maybe after a rollback.
            batch.cancel(now, drain=not ended)
        batch._enter_level(0)
        batch._after_change(now)
        return batch

    # -- what happened -------------------------------------------------------------------

    def finish(self, step: Step, outcome: Outcome, now: float, policy: RetryPolicy,
               rng: random.Random) -> None:  # fmt: skip
        """Record a step's outcome: completed, failed for good, or scheduled for a retry."""
        index = step.index
        if self.item_states[index] != _RUNNING:
            return  # a late duplicate (e.g. after a cancel); the first outcome counts
        self.running -= 1
        self.attempts[index] = min(255, self.attempts[index] + 1)
        if outcome.ok:
            self._settle(index, _COMPLETED, now)
            self.errors.pop(index, None)
            self.expected.pop(index, None)
            self.completed += 1
            self._note(ItemChange(index, step.line, ItemState.COMPLETED, ""))
        elif self.state is not BatchState.CANCELLED and policy.should_retry(
            outcome.error_kind, self.attempts[index]
        ):
            self.item_states[index] = _RETRY_WAIT
            self.retried += 1
            due = now + policy.delay(self.attempts[index], rng)
            heapq.heappush(self._retries, (due, index))
            self._note(ItemChange(index, step.line, ItemState.RETRY_WAIT, outcome.error))
        else:
            self._settle(index, _FAILED, now)
            self.errors[index] = outcome.error
            self.expected.pop(index, None)
            self.failed += 1
            self._note(ItemChange(index, step.line, ItemState.FAILED, outcome.error))
        self._after_change(now)

    def returned(self, steps: Sequence[Step], now: float) -> None:
        """Steps handed back unstarted (worker died before them, pause, cancel, shutdown)."""
        for step in steps:
            if self.item_states[step.index] != _RUNNING:
                continue
            self.running -= 1
            if self.state is BatchState.CANCELLED and step.index not in self.expected:
                self._settle(step.index, _SKIPPED, now)
                self.skipped += 1
            else:
                self.item_states[step.index] = _PENDING
                self._requeued.append(step.index)
        self._after_change(now)

    # -- control -------------------------------------------------------------------------

    def pause(self) -> None:
        """Start nothing new until resumed."""
        if self.state is BatchState.RUNNING:
            self.state = BatchState.PAUSED

    def resume(self) -> None:
        """Start items again after a pause or an interruption."""
        if self.state in (BatchState.PAUSED, BatchState.INTERRUPTED):
            self.state = BatchState.RUNNING
            self.note = ""

    def cancel(self, now: float, *, drain: bool = True) -> None:
        """Skip every item that has not started; running ones finish. Items a crash left
        undecided (an INTENT without a DONE: ``expected`` holds their pre-state) run once
        more against it, so that every effect is known (and a rollback sees it) before the
        batch counts as ended; their re-run never applies an effect twice."""
        if self.state in (BatchState.COMPLETED, BatchState.FAILED, BatchState.CANCELLED):
            return
        self.state = BatchState.CANCELLED
        self._requeued.clear()
        self._retries.clear()
        for index, code in enumerate(self.item_states):
            if drain and code == _PENDING and index in self.expected:
                self._requeued.append(index)
            elif code in (_PENDING, _RETRY_WAIT):
                self.item_states[index] = _SKIPPED
                self.skipped += 1
        self._after_change(now)

    def retry_failed(self, now: float) -> int:
        """Run the failed items again (attempts start over); returns how many."""
        failed = [i for i, code in enumerate(self.item_states) if code == _FAILED]
        if not failed:
            return 0
        for index in failed:
            self.item_states[index] = _PENDING
            self.attempts[index] = 0
            self.errors.pop(index, None)
        self.failed -= len(failed)
        self.state = BatchState.RUNNING
        self.ended = None
        self.end_journaled = False
        first_level = next(i for i, span in enumerate(self._levels)
                           if span.first <= failed[0] < span.first + span.count)  # fmt: skip
        self._enter_level(first_level)
        return len(failed)

    # -- reporting -----------------------------------------------------------------------

    def progress(self, now: float, wall_now: float) -> BatchProgress:
        """The contract's progress fields, consistent with each other at this instant."""
        remaining = self.total - self.completed - self.failed - self.skipped
        end = self.ended if self.ended is not None else now
        if self.ended is None:
            self.rate.tick(now)
            rate = self.rate.current(now)
        else:  # frozen once ended: the batch's average rate
            rate = (self.completed + self.failed) / max(end - self.started, 1e-9)
        eta = (
            0.0 if self.ended is not None else estimate_eta(remaining, rate, self.rate.finished_any)
        )
        return BatchProgress(
            id=self.id,
            name=self.name,
            state=self.state,
            total=self.total,
            completed=self.completed,
            failed=self.failed,
            progress=fraction_done(self.completed, self.failed, self.total),
            eta=eta,
            rate=rate,
            running=self.running,
            pending=self.total - self.completed - self.failed - self.running,
            elapsed=end - self.started,
            retried=self.retried,
            priority=self.priority,
            submitted_at=self.submitted_at,
            finished_at=self.finished_at,
            rollback_of=self.rollback_of,
            rolled_back=0 if self.undone is None else self.undone.count(1),
            conflicts=self.failed if self.rollback_of else 0,
            note=self.note,
        )

    @property
    def finished_at(self) -> float | None:
        """Wall-clock end time (journaled; else from the monotonic duration)."""
        if self.ended is None:
            return None
        if self.ended_wall is not None:
            return self.ended_wall
        return self.submitted_at + (self.ended - self.started)

    def item_state(self, index: int) -> ItemState:
        """One item's state."""
        return STATES[self.item_states[index]]

    # -- internals -----------------------------------------------------------------------

    def _note(self, change: ItemChange) -> None:
        # Bounded between two publications; the counters stay exact regardless.
        if len(self.changes) < MAX_NOTED_CHANGES:
            self.changes.append(change)
        else:
            self.changes_dropped += 1

    def _settle(self, index: int, code: int, now: float) -> None:
        self.item_states[index] = code
        self._open_in_level -= 1
        if code in (_COMPLETED, _FAILED):
            self.rate.record(1, now)

    def _next_pending(self) -> int | None:
        while self._cursor < self._level_end:
            if self.item_states[self._cursor] == _PENDING:
                return self._cursor
            self._cursor += 1
        return None

    def _enter_level(self, level: int) -> None:
        while level < len(self._levels):
            first, count = self._levels[level].first, self._levels[level].count
            chunk = self.item_states[first : first + count]
            open_items = count - sum(chunk.count(code) for code in _FINAL)
            if open_items:
                self._level, self._cursor, self._level_end = level, first, first + count
                self._open_in_level = open_items
                return
            level += 1
        self._level, self._cursor, self._level_end, self._open_in_level = level, 0, 0, 0

    def _after_change(self, now: float) -> None:
        cancelled = self.state is BatchState.CANCELLED
        if not cancelled and self._open_in_level <= 0 and self._level < len(self._levels):
            self._enter_level(self._level + 1)
        all_done = (cancelled and not self._requeued) or self._level >= len(self._levels)
        if all_done and self.running == 0 and self.ended is None:
            self.ended = now
            if not cancelled:
                self.state = BatchState.FAILED if self.failed else BatchState.COMPLETED
