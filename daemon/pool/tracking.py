"""What the pool knows about each worker and its chunk, and the events that knowledge yields.

``TrackedWorker`` wraps a ``WorkerProcess`` with its supervision state; ``RunningChunk`` turns
a worker's reports (outcomes, done, death) into executor events, so that each step of a chunk
is reported exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

from batchd.daemon.ops.step import ErrorKind, Outcome
from batchd.daemon.pool import decisions
from batchd.daemon.pool.board import Progress
from batchd.daemon.pool.executor import (
    Chunk,
    ChunkFinished,
    ExecutorEvent,
    ItemFinished,
    StepsReturned,
    WorkerInfo,
    WorkerState,
)
from batchd.daemon.pool.framing import FrameError
from batchd.daemon.pool.process import WorkerProcess

OUTBOX_RETRY: Final = 0.01
NO_PIDFD_POLL: Final = 0.5


@dataclass(frozen=True, slots=True)
class KillCause:
    """Why the pool killed a worker: decides the running step's fate and its error."""

    timed_out_at: int | None = None
    timeout: float | None = None
    corrupt: str | None = None
    shutting_down: bool = False
    memory: str | None = None  # over a memory limit: the running step's error
    diagnostics: str = ""


@dataclass(eq=False)
class RunningChunk:
    """A chunk on a worker: how many outcomes came back, and when the last one did."""

    chunk: Chunk
    received_at: float
    limits: list[float | None]
    earliest: list[float | None]
    received: int = 0
    cancelled: bool = False

    @classmethod
    def start(cls, chunk: Chunk, now: float) -> RunningChunk:
        """Track ``chunk``, sent at ``now``."""
        limits = [decisions.step_limit(step.timeout, chunk.item_timeout) for step in chunk.steps]
        return cls(chunk, now, limits, decisions.suffix_min_limits(limits))

    def receive(
        self, outcomes: tuple[Outcome, ...], now: float, *, shutting_down: bool = False
    ) -> list[ExecutorEvent]:
        """Outcomes reported by the worker; FrameError when they are not the next steps'.
        While the pool kills the worker to shut down, a failure is the kill's doing (its
        command died of the same SIGKILL a moment earlier): that step is handed back."""
        chunk = self.chunk
        events: list[ExecutorEvent] = []
        for outcome in outcomes:
            position = self.received
            if position >= len(chunk.steps) or outcome.index != chunk.steps[position].index:
                raise FrameError(f"outcome of step {outcome.index} out of order")
            if shutting_down and not outcome.ok:
                steps = (chunk.steps[position],)
                events.append(StepsReturned(chunk.batch, chunk.chunk_id, steps))
            else:
                events.append(ItemFinished(chunk.batch, chunk.chunk_id, outcome))
            self.received += 1
            self.received_at = now
        return events

    def done(self, stopped_at: int) -> list[ExecutorEvent]:
        """The worker is done with the chunk; steps from ``stopped_at`` never started."""
        if stopped_at != self.received:
            raise FrameError(f"chunk done at step {stopped_at} after {self.received} outcomes")
        return self._returned(range(stopped_at, len(self.chunk.steps)))

    def died(
        self, pid: int, returncode: int, progress: Progress | None, kill: KillCause | None
    ) -> list[ExecutorEvent]:
        """The worker died with the chunk unfinished: fail the running step, return the rest."""
        chunk = self.chunk
        kill = kill or KillCause()
        verdict = decisions.attribute_death(
            chunk.chunk_id,
            len(chunk.steps),
            self.received,
            progress,
            timed_out_at=kill.timed_out_at,
            shutting_down=kill.shutting_down,
        )
        events: list[ExecutorEvent] = []
        if verdict.failed is not None:
            if kill.memory is not None:
                reason = kill.memory
            elif kill.corrupt is not None:
                reason = decisions.corrupt_reason(pid, kill.corrupt)
            else:
                reason = decisions.death_reason(pid, returncode, timeout=kill.timeout)
            step = chunk.steps[verdict.failed]
            failure = Outcome.failure(step.index, ErrorKind.TRANSIENT, reason, kill.diagnostics)
            events.append(ItemFinished(chunk.batch, chunk.chunk_id, failure))
        return events + self._returned(verdict.returned)

    def flight(self, progress: Progress | None) -> decisions.InFlight | None:
        """The step running now, according to the board (or the outcomes)."""
        return decisions.in_flight(
            self.chunk.chunk_id, len(self.chunk.steps), self.received, self.received_at, progress
        )

    def _returned(self, positions: range | tuple[int, ...]) -> list[ExecutorEvent]:
        chunk = self.chunk
        events: list[ExecutorEvent] = []
        if positions:
            steps = tuple(chunk.steps[position] for position in positions)
            events.append(StepsReturned(chunk.batch, chunk.chunk_id, steps))
        events.append(ChunkFinished(chunk.batch, chunk.chunk_id))
        return events


@dataclass(eq=False)
class TrackedWorker:
    """A worker process and what the pool knows about it."""

    process: WorkerProcess
    ready: bool = False  # said hello
    stopping: bool = False  # told to exit
    retiring: bool = False  # to be told to exit after its chunk
    running: RunningChunk | None = None
    items_done: int = 0
    handler_items: int = 0  # of items_done, the ``call`` steps: what recycling counts
    kill: KillCause | None = None
    stop_deadline: float | None = None
    # The step in flight (chunk id, position, start) and the worker's paused seconds when the
    # pool first saw it: the CPU cap's stops since then extend the step's time limit.
    flight_key: tuple[int, int, float] | None = None
    paused_at_flight: float = 0.0
    cgroup: Path | None = None  # its memory cgroup, when the pool uses cgroups
    oom_kills: int = 0  # the cgroup's OOM kills the pool has seen (and counted)

    @property
    def pid(self) -> int:
        """The worker's pid."""
        return self.process.pid

    @property
    def active(self) -> bool:
        """Counts towards the pool's size."""
        return not self.stopping and self.kill is None

    @property
    def idle(self) -> bool:
        """Can take a chunk now."""
        return self.ready and self.active and not self.retiring and self.running is None

    def flight(self) -> decisions.InFlight | None:
        """The step running now, if any."""
        return None if self.running is None else self.running.flight(self.process.board.read())

    def paused_in_flight(self, flight: decisions.InFlight | None, paused: float) -> float:
        """Of the worker's ``paused`` seconds (stopped by the CPU cap so far), those during
        the step in flight: counted from when the pool first saw the step, at most one loop
        turn after it started, so a stop in that turn may go uncounted (a fraction of a
        second against limits of seconds, plus ``kill_grace``)."""
        if flight is None or self.running is None:
            return 0.0
        key = (self.running.chunk.chunk_id, flight.position, flight.started)
        if self.flight_key != key:
            self.flight_key = key
            self.paused_at_flight = paused
        return paused - self.paused_at_flight

    def deadlines(self, now: float, kill_grace: float, paused: float) -> list[float | None]:
        """When the pool must look at this worker again: its exit deadline, a write to
        retry, a death to poll for (no pidfd), the time limit of the step in flight
        (``paused``: the seconds the CPU cap has kept it stopped in all)."""
        found = [self.stop_deadline]
        if self.process.outbox:
            found.append(now + OUTBOX_RETRY)
        if self.process.pidfd is None:
            found.append(now + NO_PIDFD_POLL)
        running = self.running
        if running is None or self.kill is not None:
            return found
        flight = self.flight()
        position = running.received if flight is None else flight.position
        if position < len(running.earliest):
            started = now if flight is None else flight.started
            found.append(
                decisions.wake_deadline(
                    decisions.InFlight(position, started),
                    running.earliest[position],
                    kill_grace,
                    self.paused_in_flight(flight, paused),
                )
            )
        return found

    def info(self) -> WorkerInfo:
        """A snapshot for ``Executor.workers``."""
        if not self.active:
            state = WorkerState.STOPPING
        elif not self.ready:
            state = WorkerState.STARTING
        elif self.running is not None:
            state = WorkerState.BUSY
        else:
            state = WorkerState.IDLE
        if self.running is None:
            return WorkerInfo(self.pid, state, items_done=self.items_done)
        flight = self.flight()
        chunk = self.running.chunk
        return WorkerInfo(
            self.pid,
            state,
            chunk.batch,
            None if flight is None else chunk.steps[flight.position].index,
            None if flight is None else flight.started,
            self.items_done,
        )
