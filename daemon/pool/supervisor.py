"""``WorkerPool``: long-lived worker processes supervised from the daemon's single thread.

Each worker runs one chunk at a time. The pool reads outcomes as they arrive, kills a worker
whose step outlives its time limit (plus ``kill_grace``), and when a worker dies — crash,
abort, kill from outside, timeout — fails only the step it was running (TRANSIENT, with the
reason), hands the chunk's other unfinished steps back and starts a replacement. Workers are
recycled after ``recycle_after`` handler (``call``) items. Start-up failures back off
exponentially. Resource ``Limits`` (CPU cap, memory caps) are enforced from ``collect`` by the
governor (``batchd.daemon.pool.governor``). Decisions come from ``batchd.daemon.pool.decisions``,
``limits`` and ``throttle``; process syscalls from ``batchd.daemon.pool.process`` and ``probe``.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import asdict, replace
from pathlib import Path
from typing import Final

from batchd.daemon.pool import decisions, messages
from batchd.daemon.pool.cgroups import MemoryCgroups
from batchd.daemon.pool.executor import Chunk, Executor, ExecutorEvent, WorkerInfo
from batchd.daemon.pool.framing import FrameError, encode_frame
from batchd.daemon.pool.governor import Governed, Governor
from batchd.daemon.pool.limits import LimitCounters, Limits
from batchd.daemon.pool.probe import ProcessProbe, PsutilProbe
from batchd.daemon.pool.process import WorkerCommand, WorkerProcess, wait_readable
from batchd.daemon.pool.reporting import StatsCadence
from batchd.daemon.pool.tracking import KillCause, RunningChunk, TrackedWorker

log = logging.getLogger(__name__)

REAP_WAIT: Final = 5.0


class WorkerPool:
    """The local process pool; implements ``batchd.daemon.pool.executor.Executor``.

    ``env`` is the workers' whole environment (None: the daemon's). ``kill_grace`` is how long
    past its time limit a step may run before the pool kills its worker, and how long a worker
    told to exit may take. ``limits`` caps CPU and memory and sets the workers' niceness and
    I/O priority (None: no limits; ``niceness`` is the older way to set the niceness alone).
    ``probe`` reads and signals processes for the limits (tests pass a fake).
    ``memory_cgroups``: make the memory caps hard limits of per-worker cgroups where a
    writable memory cgroup exists (``batchd.daemon.pool.cgroups``).
    """

    def __init__(
        self,
        size: int,
        *,
        state_dir: Path,
        enable_rollback: bool,
        recycle_after: int = 10_000,
        kill_grace: float = 5.0,
        python: str = sys.executable,
        env: Mapping[str, str] | None = None,
        niceness: int = 0,
        limits: Limits | None = None,
        probe: ProcessProbe | None = None,
        memory_cgroups: bool = True,
    ) -> None:
        if size < 1:
            raise ValueError(f"a worker pool needs at least 1 worker, got {size}")
        limits = limits or Limits()
        if niceness and not limits.nice:
            limits = replace(limits, nice=niceness)
        options = ["--state-dir", os.fspath(state_dir)]
        if not enable_rollback:
            options.append("--no-rollback")
        self._base = WorkerCommand(python, tuple(options), env)
        self._command = self._base.with_limits(limits)
        self._cgroups = MemoryCgroups.open() if memory_cgroups else None
        self._governor = Governor(limits, probe or PsutilProbe(), cgroups=self._cgroups)
        self.stats_cadence = StatsCadence()
        """When the daemon publishes the pool's figures (``batchd.daemon.pool.reporting``)."""
        self._size = size
        self.recycle_after = recycle_after
        self.kill_grace = kill_grace
        self._workers: list[TrackedWorker] = []
        self._failures = 0
        self._spawn_not_before = 0.0
        self._closed = False
        self._top_up(time.monotonic())

    # --- the Executor interface -------------------------------------------------------------

    def capacity(self) -> int:
        """Idle workers: each takes one chunk."""
        return 0 if self._closed else sum(1 for worker in self._workers if worker.idle)

    def submit(self, chunk: Chunk) -> None:
        """Send ``chunk`` to an idle worker; RuntimeError when none is idle."""
        if self._closed:
            raise RuntimeError("the worker pool is shut down")
        worker = next((worker for worker in self._workers if worker.idle), None)
        if worker is None:
            raise RuntimeError("no idle worker: check capacity() before submit()")
        worker.running = RunningChunk.start(chunk, time.monotonic())
        worker.process.send(encode_frame(messages.chunk_message(chunk)))

    def fds(self) -> list[int]:
        """Worker pipes (outcomes) and pidfds (deaths)."""
        fds: list[int] = []
        for worker in self._workers:
            if not worker.process.eof:
                fds.append(worker.process.from_fd)
            if worker.process.pidfd is not None:
                fds.append(worker.process.pidfd)
        return fds

    def collect(self, now: float) -> list[ExecutorEvent]:
        """Read outcomes, enforce time and resource limits, reap and replace dead workers."""
        events: list[ExecutorEvent] = []
        for worker in list(self._workers):
            self._read(worker, now, events)
        for worker in list(self._workers):
            self._enforce_time_limits(worker, now)
        self.enforce_limits(now)
        for worker in list(self._workers):
            if worker.process.exited():
                self._bury(worker, now, events)
        self._top_up(now)
        for worker in self._workers:
            worker.process.flush()
        return events

    def next_deadline(self) -> float | None:
        """The earliest time-limit, exit, restart or resource-sampling deadline."""
        now = time.monotonic()
        deadlines: list[float | None] = [self._governor.deadline()]
        for worker in self._workers:
            deadlines += worker.deadlines(
                now, self.kill_grace, self._governor.paused(worker.pid, now)
            )
        if self._missing() > 0:
            deadlines.append(max(now, self._spawn_not_before))
        return decisions.earliest(deadlines)

    def cancel(self, batch: int) -> None:
        """Ask the workers running ``batch`` to stop before their next step."""
        for worker in self._workers:
            running = worker.running
            if running is not None and running.chunk.batch == batch and not running.cancelled:
                running.cancelled = True
                worker.process.send(encode_frame([messages.CANCEL, running.chunk.chunk_id]))

    def workers(self) -> list[WorkerInfo]:
        """A snapshot of every worker, with the step in flight read from its board and the
        resource figures from the limits' last sample (RSS read now when nothing samples)."""
        # Usage's fields are WorkerInfo's resource fields by name.
        now = time.monotonic()
        return [
            replace(worker.info(), **asdict(self._governor.usage(worker.pid, now)))
            for worker in self._workers
        ]

    def running(self) -> bool:
        """Whether any worker runs a chunk."""
        return any(worker.running is not None for worker in self._workers)

    def resize(self, size: int) -> None:
        """Grow now; shrink by stopping idle workers first, busy ones after their chunk."""
        if size < 1:
            raise ValueError(f"a worker pool needs at least 1 worker, got {size}")
        self._size = size
        self.stats_cadence.limits_changed = True
        now = time.monotonic()
        excess = sum(1 for worker in self._workers if worker.active) - size
        by_idleness = sorted(
            (worker for worker in self._workers if worker.active),
            key=lambda worker: worker.running is not None,
        )
        for worker in by_idleness[: max(0, excess)]:
            if worker.running is None:
                self._stop(worker, now)
            else:
                worker.retiring = True
        self._top_up(now)

    def shutdown(self, grace: float) -> list[ExecutorEvent]:
        """Stop every worker: in-flight steps get ``grace`` seconds, then workers are killed.

        Unstarted steps and the steps running when the grace ran out come back as
        StepsReturned (a kill for shutdown is no fault of the step).
        """
        self._closed = True
        now = time.monotonic()
        self._governor.release(now)  # in-flight steps finish at full speed; nothing stays stopped
        for worker in self._workers:
            if not worker.stopping:
                worker.process.send(encode_frame([messages.EXIT]))
                worker.stopping = True
        events: list[ExecutorEvent] = []
        deadline = now + grace
        while self._workers and now < deadline:
            wait_readable(self.fds(), min(deadline, self.next_deadline() or deadline) - now)
            now = time.monotonic()
            events += self.collect(now)
        for worker in self._workers:
            if worker.kill is None:
                worker.kill = KillCause(shutting_down=True)
            worker.process.kill()
        reap_deadline = time.monotonic() + REAP_WAIT
        while self._workers and time.monotonic() < reap_deadline:
            wait_readable(self.fds(), 0.05)
            events += self.collect(time.monotonic())
        for worker in self._workers:
            log.error("worker %d did not die after SIGKILL; leaving it", worker.pid)
            worker.process.close()
        self._workers.clear()
        if self._cgroups is not None:
            self._cgroups.close()
        return events

    # --- resource limits ----------------------------------------------------------------------

    def enforce_limits(self, now: float) -> None:
        """Sample the workers' trees when a period is due, duty-cycle them under the CPU cap
        and kill workers over a memory limit (their running step fails TRANSIENT). Called by
        ``collect``; cheap when nothing is due. Workers told to exit (shutdown included) are
        never stopped, but memory limits hold until they are gone."""
        governed = [
            Governed(
                worker.pid,
                busy=worker.active and worker.running is not None,
                batch=None if worker.running is None else worker.running.chunk.batch,
            )
            for worker in self._workers
            if worker.kill is None
        ]
        kills = self._governor.enforce(governed, self._size, now)
        by_pid = {worker.pid: worker for worker in self._workers}
        for kill in kills:
            worker = by_pid[kill.worker]
            log.warning("killing worker %d: %s (%s)", worker.pid, kill.error, kill.diagnostics)
            self._kill(worker, KillCause(memory=kill.error, diagnostics=kill.diagnostics))

    def limit_counters(self) -> LimitCounters:
        """How often the resource limits acted since the pool started."""
        return self._governor.counters()

    @property
    def limits(self) -> Limits:
        """The resource limits in force."""
        return self._governor.limits

    @property
    def memory_enforcement(self) -> str:
        """How the memory caps are enforced: ``cgroup v1``, ``cgroup v2`` or ``psutil``."""
        return self._governor.memory_enforcement

    def set_limits(self, limits: Limits) -> None:
        """Change the limits: caps apply from the next sample (lifting the CPU cap continues
        stopped workers now); niceness, I/O priority and the memory backstop apply to workers
        started from now on."""
        self._command = self._base.with_limits(limits)
        self._governor.set_limits(limits, time.monotonic())
        self.stats_cadence.limits_changed = True

    def _paused_in_flight(
        self, worker: TrackedWorker, flight: decisions.InFlight | None, now: float
    ) -> float:
        """Seconds the CPU cap kept ``worker`` stopped during the step in flight."""
        return worker.paused_in_flight(flight, self._governor.paused(worker.pid, now))

    # --- supervision --------------------------------------------------------------------------

    def _read(self, worker: TrackedWorker, now: float, events: list[ExecutorEvent]) -> None:
        if worker.process.eof or (worker.kill is not None and worker.kill.corrupt is not None):
            return
        data = worker.process.read_available()
        if not data:
            return
        try:
            received = worker.process.decoder.feed(data)
        except FrameError as error:
            self._handle_all(worker, error.decoded, now, events)
            self._kill(worker, KillCause(corrupt=str(error)))
            return
        self._handle_all(worker, received, now, events)

    def _handle_all(
        self, worker: TrackedWorker, received: list[object], now: float, events: list[ExecutorEvent]
    ) -> None:
        for raw in received:
            try:
                self._handle(worker, messages.parse_worker_message(raw), now, events)
            except FrameError as error:
                self._kill(worker, KillCause(corrupt=str(error)))
                return

    def _handle(
        self,
        worker: TrackedWorker,
        message: messages.WorkerMessage,
        now: float,
        events: list[ExecutorEvent],
    ) -> None:
        if isinstance(message, messages.Hello):
            worker.ready = True
            return
        running = worker.running
        if running is None or message.chunk_id != running.chunk.chunk_id:
            raise FrameError(f"message about chunk {message.chunk_id}, which it does not run")
        if isinstance(message, messages.Outcomes):
            shutting_down = worker.kill is not None and worker.kill.shutting_down
            events += running.receive(message.outcomes, now, shutting_down=shutting_down)
            worker.items_done += len(message.outcomes)
            if message.outcomes:
                self._failures = 0
            return
        events += running.done(message.stopped_at)
        worker.running = None
        worker.handler_items += decisions.handler_steps(running.chunk.steps[: message.stopped_at])
        if self._cgroups is not None and worker.cgroup is not None:  # count the kernel's kills
            worker.oom_kills = self._cgroups.oom_check(worker.cgroup, worker.oom_kills)[0]
        if not worker.stopping and (
            worker.retiring or decisions.should_recycle(worker.handler_items, self.recycle_after)
        ):
            self._stop(worker, now)

    def _enforce_time_limits(self, worker: TrackedWorker, now: float) -> None:
        running = worker.running
        flight = worker.flight()
        if running is not None and flight is not None and worker.kill is None:
            limit = running.limits[flight.position]
            paused = self._paused_in_flight(worker, flight, now)
            if decisions.timed_out(flight, limit, self.kill_grace, now, paused):
                self._kill(worker, KillCause(timed_out_at=flight.position, timeout=limit))
        if worker.kill is None and worker.stop_deadline is not None and now >= worker.stop_deadline:
            log.warning(
                "worker %d did not exit within %g s; killing it", worker.pid, self.kill_grace
            )
            self._kill(worker, KillCause(shutting_down=True))

    def _kill(self, worker: TrackedWorker, kill: KillCause) -> None:
        if worker.kill is not None:
            return
        worker.kill = kill
        worker.process.kill()

    def _stop(self, worker: TrackedWorker, now: float) -> None:
        worker.stopping = True
        worker.stop_deadline = now + self.kill_grace
        worker.process.send(encode_frame([messages.EXIT]))

    def _bury(self, worker: TrackedWorker, now: float, events: list[ExecutorEvent]) -> None:
        """Reap a dead worker and settle its chunk."""
        # Read what it wrote before dying first: handling it may kill the process group, which
        # is only safe while the zombie keeps its pid reserved.
        self._read(worker, now, events)
        self._governor.forget(worker.pid, now)  # continue anything of it still stopped
        returncode = worker.process.reap()
        self._workers.remove(worker)
        if self._cgroups is not None:
            self._cgroups.bury(worker, returncode)
            self._governor.hold_back_after_kernel_kills(self._size, now)
        progress = worker.process.board.read()
        worker.process.close()
        running = worker.running
        if not (worker.stopping and running is None and returncode == 0):
            log.warning("worker %d ended with status %d (%s)", worker.pid, returncode, worker.kill)
        if running is not None:
            events += running.died(worker.pid, returncode, progress, worker.kill)
        stopped_by_pool = worker.stopping or (
            worker.kill is not None and worker.kill.corrupt is None
        )
        if decisions.counts_as_start_failure(worker.items_done > 0, stopped_by_pool):
            self._failures += 1
            self._spawn_not_before = now + decisions.restart_delay(self._failures)

    def _missing(self) -> int:
        if self._closed:
            return 0
        size = max(1, self._size - self._governor.held_back)
        return size - sum(1 for worker in self._workers if worker.active)

    def _top_up(self, now: float) -> None:
        """Start workers up to the pool's size, unless start-up failures impose a pause."""
        while self._missing() > 0 and now >= self._spawn_not_before:
            try:
                if self._cgroups is None:
                    process, group = WorkerProcess.start(self._command), None
                else:
                    process, group = self._cgroups.start_worker(self._command)
            except OSError as error:
                self._failures += 1
                delay = decisions.restart_delay(self._failures)
                self._spawn_not_before = now + delay
                log.error("cannot start a worker (%s); next attempt in %g s", error, delay)
                return
            self._workers.append(TrackedWorker(process, cgroup=group))


def _implements_executor(pool: WorkerPool) -> Executor:
    """Never called: makes the type checker verify that WorkerPool implements Executor."""
    return pool
