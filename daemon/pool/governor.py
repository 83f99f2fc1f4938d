"""The governor: samples the workers' trees and carries out the limit decisions.

The pool calls ``enforce`` on every loop turn; it samples (through a ``ProcessProbe``) only
when a period is due, asks the pure decisions (``batchd.daemon.pool.throttle`` for the CPU
duty cycle, ``batchd.daemon.pool.limits`` for memory) what to do, stops and continues the
busy workers' process groups, and returns the memory kills for the pool to carry out. Each CPU
cap — the workers' and each batch's — runs its own duty cycle (``batchd.daemon.pool.cpu_caps``);
a worker is stopped while any cycle covering it says so.

Nothing stays stopped: every stop is followed by a continue within one period; a worker that
stops being busy (exits, is told to stop, is killed, is forgotten) is continued at once; and
``release`` — called on shutdown and when the CPU cap is lifted — continues everything. The
seconds each worker spent stopped are kept (``paused``) so the pool can extend a step's time
limit by them.
"""

from __future__ import annotations

import signal
from collections.abc import Sequence, Set
from dataclasses import dataclass, replace

from batchd.daemon.pool import cpu_caps, throttle
from batchd.daemon.pool.cgroups import MemoryCgroups
from batchd.daemon.pool.limits import (
    HoldBack,
    LimitCounters,
    Limits,
    MemoryKill,
    MemorySample,
    decide_memory,
    hold_back,
    pss_wanted,
)
from batchd.daemon.pool.probe import ProcessProbe, TreeUsage


@dataclass(frozen=True, slots=True)
class Governed:
    """A worker the governor looks after; only ``busy`` ones (running a chunk, of ``batch``)
    are stopped."""

    pid: int
    busy: bool
    batch: int | None = None


@dataclass(frozen=True, slots=True)
class Usage:
    """The last sample of a worker's tree: RSS and PSS (None: not read) in bytes, CPU in
    percent of the whole machine over the last period, and whether it is stopped now."""

    rss: int | None = None
    pss: int | None = None
    cpu_percent: float | None = None
    stopped: bool = False


@dataclass(frozen=True, slots=True)
class _Stopped:
    groups: frozenset[int]
    since: float


class Governor:
    """Applies ``Limits`` to the workers; one per pool. With ``cgroups`` the memory caps are
    also the hard limits of the workers' cgroups (``batchd.daemon.pool.cgroups``)."""

    def __init__(
        self,
        limits: Limits,
        probe: ProcessProbe,
        period: float = throttle.PERIOD,
        cgroups: MemoryCgroups | None = None,
    ):
        self.limits = limits
        self._cgroups = cgroups
        if cgroups is not None:
            cgroups.set_limits(limits.worker_memory, limits.total_memory)
        self.period = period
        self._probe = probe
        self._cpus = probe.cpus()
        self._caps = cpu_caps.CpuCaps()
        self._next_sample = 0.0
        self._wake: float | None = 0.0  # sample at the first turn
        self._stopped: dict[int, _Stopped] = {}
        self._paused: dict[int, float] = {}
        self._last: dict[int, tuple[float, TreeUsage]] = {}
        self._usage: dict[int, Usage] = {}
        self._hold = HoldBack()
        self._counters = LimitCounters()
        self._kernel_total_kills = 0

    def set_limits(self, limits: Limits, now: float) -> None:
        """Apply new limits from the next ``enforce``; lifting a CPU cap (the workers' or a
        batch's) continues now what only it kept stopped."""
        self.limits = limits
        self._wake = now
        if self._cgroups is not None:
            self._cgroups.set_limits(limits.worker_memory, limits.total_memory)
        self._caps = self._caps.keep(limits.cpu_caps(self._cpus))
        still = self._caps.stopped()
        self._continue([pid for pid in self._stopped if pid not in still], now)
        if not limits.total_memory:
            self._hold = HoldBack()

    @property
    def held_back(self) -> int:
        """Workers the pool runs fewer for now (after kills over the total memory limit)."""
        return self._hold.workers

    def enforce(self, workers: Sequence[Governed], size: int, now: float) -> list[MemoryKill]:
        """One turn: sample if due, stop or continue busy workers, return memory kills.

        ``workers`` are the live workers not already being killed; ``size`` is the pool's
        configured size (for the hold-back after total-limit kills).
        """
        limits = self.limits
        caps = limits.cpu_caps(self._cpus)
        samples: dict[int, TreeUsage] | None = None
        due = now >= self._next_sample or self._caps.sample_due(self.period, now)
        if limits.sampled and due:
            samples = self._sample(workers, now)
            self._next_sample = now + self.period
        self.hold_back_after_kernel_kills(size, now)
        kills: list[MemoryKill] = []
        if samples is not None and limits.memory_limited:
            kills = self._memory(samples, size, now)
        cpu_samples = None
        if samples is not None:
            seconds = {pid: usage.cpu_seconds for pid, usage in samples.items()}
            cpu_samples = throttle.CpuSamples(now, seconds)
        killed = {kill.worker for kill in kills}
        busy = {
            worker.pid: worker.batch
            for worker in workers
            if worker.busy and worker.pid not in killed
        }
        decision = cpu_caps.decide_caps(
            self._caps, busy, cpu_samples, caps, period=self.period, now=now
        )
        self._caps = decision.state
        self._continue([pid for pid in self._stopped if pid not in decision.stopped], now)
        self._stop(decision.stopped - self._stopped.keys(), decision.stops, now)
        wakes = [decision.wake_at]
        if limits.sampled:
            wakes.append(self._next_sample)
        present = [wake for wake in wakes if wake is not None]
        self._wake = min(present) if present else None
        return kills

    def hold_back_after_kernel_kills(self, size: int, now: float) -> None:
        """Kills by the kernel at the total's hard limit hold workers back like ours (called
        each turn, and by the pool when it buried a worker, before it replaces it)."""
        total = 0 if self._cgroups is None else self._cgroups.kills["total"]
        if total > self._kernel_total_kills:
            new, self._kernel_total_kills = total - self._kernel_total_kills, total
            self._hold = hold_back(
                self._hold,
                size=size,
                total_kills=new,
                total_used=0,
                total_limit=self.limits.total_memory,
                now=now,
            )

    def deadline(self) -> float | None:
        """When ``enforce`` must run again (None: no limit needs it)."""
        return self._wake if self.limits.sampled or self._stopped else None

    def paused(self, pid: int, now: float) -> float:
        """Seconds worker ``pid`` has spent stopped since it started (including now)."""
        stopped = self._stopped.get(pid)
        ongoing = 0.0 if stopped is None else now - stopped.since
        return self._paused.get(pid, 0.0) + ongoing

    def usage(self, pid: int, now: float) -> Usage:
        """The last sample of ``pid``'s tree; read now when limits do not sample (the CPU
        figure is then since the previous read)."""
        if not self.limits.sampled:
            tree = self._probe.usage(pid)
            if tree is not None:
                self._record(pid, tree, now)
        return replace(self._usage.get(pid, Usage()), stopped=pid in self._stopped)

    def forget(self, pid: int, now: float) -> None:
        """Worker ``pid`` is gone or going: continue whatever of it was stopped, drop it."""
        self._continue([pid], now)
        self._paused.pop(pid, None)
        self._last.pop(pid, None)
        self._usage.pop(pid, None)

    def release(self, now: float) -> None:
        """Continue every stopped process and start the duty cycles afresh."""
        self._continue(list(self._stopped), now)
        self._caps = cpu_caps.CpuCaps()

    def counters(self) -> LimitCounters:
        """How often the limits acted (the kernel's kills at the cgroups' limits included)."""
        counters = replace(self._counters, workers_held_back=self._hold.workers)
        if self._cgroups is None:
            return counters
        worker, total = self._cgroups.kills["worker"], self._cgroups.kills["total"]
        return replace(
            counters,
            memory_kills=counters.memory_kills + worker,
            total_memory_kills=counters.total_memory_kills + total,
            kernel_oom_kills=worker + total,
        )

    # --- cgroup hard limits -------------------------------------------------------------------

    @property
    def memory_enforcement(self) -> str:
        """How memory caps are enforced: ``cgroup v1``, ``cgroup v2`` or ``psutil``."""
        return "psutil" if self._cgroups is None else self._cgroups.enforcement

    # --- carrying out -------------------------------------------------------------------------

    def _sample(self, workers: Sequence[Governed], now: float) -> dict[int, TreeUsage]:
        samples: dict[int, TreeUsage] = {}
        for worker in workers:
            usage = self._probe.usage(worker.pid)
            if usage is None:
                continue
            samples[worker.pid] = usage
            self._record(worker.pid, usage, now)
        return samples

    def _record(self, pid: int, usage: TreeUsage, now: float) -> None:
        """Keep ``usage`` as ``pid``'s last sample, with its CPU use since the one before."""
        cpu = None
        last = self._last.get(pid)
        if last is not None and now > last[0]:
            rate = max(0.0, usage.cpu_seconds - last[1].cpu_seconds) / (now - last[0])
            cpu = 100.0 * rate / self._cpus
        self._last[pid] = (now, usage)
        self._usage[pid] = Usage(rss=usage.rss, cpu_percent=cpu)

    def _memory(self, samples: dict[int, TreeUsage], size: int, now: float) -> list[MemoryKill]:
        limits = self.limits
        rss = {pid: usage.rss for pid, usage in samples.items()}
        wanted = pss_wanted(rss, limits.worker_memory, limits.total_memory)
        measured: list[MemorySample] = []
        for pid, usage in samples.items():
            pss = self._probe.pss(usage.pids) if pid in wanted else None
            measured.append(MemorySample(pid, usage.rss, pss))
            if pss is not None:
                self._usage[pid] = replace(self._usage[pid], pss=pss)
        # Where cgroups hold the caps the kernel enforces them; sampling only measures then,
        # or both would kill for one excess (and count it twice).
        kernel = self.memory_enforcement != "psutil"
        kills = decide_memory(
            measured,
            0 if kernel else limits.worker_memory,
            0 if kernel else limits.total_memory,
        )
        over_total = sum(1 for kill in kills if kill.over_total)
        self._counters = replace(
            self._counters,
            memory_kills=self._counters.memory_kills + len(kills) - over_total,
            total_memory_kills=self._counters.total_memory_kills + over_total,
        )
        killed = {kill.worker for kill in kills}
        left = sum(sample.used for sample in measured if sample.worker not in killed)
        self._hold = hold_back(
            self._hold,
            size=size,
            total_kills=over_total,
            total_used=left,
            total_limit=limits.total_memory,
            now=now,
        )
        return kills

    def _stop(self, pids: Set[int], stops: int, now: float) -> None:
        """Stop ``pids``' trees; ``stops`` duty cycles entered their stop phase."""
        for pid in pids:
            groups = self._probe.groups(self._probe.tree(pid))
            self._probe.signal_groups(groups, signal.SIGSTOP)
            self._stopped[pid] = _Stopped(groups, now)
        if stops:
            throttles = self._counters.cpu_throttles + stops
            self._counters = replace(self._counters, cpu_throttles=throttles)

    def _continue(self, pids: list[int], now: float) -> None:
        longest = 0.0
        for pid in pids:
            stopped = self._stopped.pop(pid, None)
            if stopped is None:
                continue
            self._probe.signal_groups(stopped.groups, signal.SIGCONT)
            self._paused[pid] = self._paused.get(pid, 0.0) + now - stopped.since
            longest = max(longest, now - stopped.since)
        if longest:
            seconds = self._counters.cpu_throttled_seconds + longest
            self._counters = replace(self._counters, cpu_throttled_seconds=seconds)
