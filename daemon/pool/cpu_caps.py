"""Several CPU caps at once: one duty cycle per cap, a pure function from samples to stops.

The workers' cap (``cpu_limit_percent``) covers every busy worker; a batch's cap covers the
busy workers running that batch. Each cap runs its own ``batchd.daemon.pool.throttle`` duty
cycle over the CPU time of the workers it covers, and a worker is stopped while *any* cycle
covering it is in its stop phase. So a batch capped at 30 % never gets more than that, and
all workers together never more than the workers' cap.

The cycles share one sampling clock: a cycle starts only at a sample, and every cycle's
period is the same length, so all of them sample at the same moments (one psutil pass per
period, however many caps). A worker that starts a chunk of another batch leaves one cycle
and joins the other at once; its CPU time counts for a cycle only over periods it spent
there entirely (a cycle's usage is summed over the workers in both its baseline and its
samples). A cycle whose batch has no busy worker at a sample is dropped — its demand no
longer describes anything — and a cap that is removed (lifted, or its batch ended) drops its
cycle at once.

The cycles correct each other: a batch cycle measures its workers' demand while the workers'
cycle also stops them, and the other way round, so each sees the demand left after the
other's stops and throttles only by what is still missing. The tests check that the
combination converges to the tighter of the caps.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from batchd.daemon.pool import throttle

CapKey = int | None
"""Which cap: None for all workers, a batch id for that batch's workers."""


@dataclass(frozen=True, slots=True)
class CapCycle:
    """One cap's duty cycle and the busy workers it covered at the last decision."""

    cycle: throttle.DutyCycle
    members: frozenset[int]


@dataclass(frozen=True, slots=True)
class CpuCaps:
    """The state of every cap's duty cycle (by ``CapKey``)."""

    cycles: Mapping[CapKey, CapCycle] = field(default_factory=dict)

    def stopped(self) -> frozenset[int]:
        """The workers some cycle keeps stopped now."""
        found: set[int] = set()
        for cap in self.cycles.values():
            if cap.cycle.stopped:
                found |= cap.members
        return frozenset(found)

    def sample_due(self, period: float, now: float) -> bool:
        """Whether some cycle needs fresh samples now."""
        return any(throttle.sample_due(cap.cycle, period, now) for cap in self.cycles.values())

    def keep(self, caps: Mapping[CapKey, float]) -> CpuCaps:
        """Only the cycles of caps still set (a lifted cap's workers run on at once)."""
        return CpuCaps({key: cap for key, cap in self.cycles.items() if key in caps})


@dataclass(frozen=True, slots=True)
class CapsDecision:
    """The new state; the busy workers to keep stopped now; how many cycles entered their
    stop phase (for the counters); when to decide again (None: no cap needs it)."""

    state: CpuCaps
    stopped: frozenset[int]
    stops: int
    wake_at: float | None


def members(key: CapKey, busy: Mapping[int, int | None]) -> frozenset[int]:
    """The busy workers (pid -> the batch each runs) that cap ``key`` covers."""
    if key is None:
        return frozenset(busy)
    return frozenset(pid for pid, batch in busy.items() if batch == key)


def decide_caps(
    state: CpuCaps,
    busy: Mapping[int, int | None],
    samples: throttle.CpuSamples | None,
    caps: Mapping[CapKey, float],
    *,
    period: float,
    now: float,
) -> CapsDecision:
    """The next step of every cap's duty cycle.

    ``busy``: the workers running a chunk, each with its batch. ``samples``: cumulative CPU
    seconds of the workers' trees, needed when ``state.sample_due`` (or to start the cycle
    of a new cap; without them a new cap waits for the next sample). ``caps``: in
    CPU-seconds per second, as ``Limits.cpu_caps`` gives them.
    """
    cycles: dict[CapKey, CapCycle] = {}
    stops = 0
    wakes: list[float] = []
    for key, cap in caps.items():
        covered = members(key, busy)
        previous = state.cycles.get(key)
        if samples is not None and key is not None and not covered:
            continue  # nothing of the batch runs: forget its demand
        if previous is None:
            if samples is None:
                continue  # starts at the next sample, in step with the other cycles
            cycle = throttle.DutyCycle()
        else:
            cycle = previous.cycle
        own = None
        if samples is not None:
            seconds = {pid: cpu for pid, cpu in samples.cpu_seconds.items() if pid in covered}
            own = throttle.CpuSamples(samples.at, seconds)
        decision = throttle.decide_cpu(cycle, own, cap, period, now)
        if decision.action is throttle.CpuAction.STOP and covered:
            stops += 1
        if decision.wake_at is not None:
            wakes.append(decision.wake_at)
        cycles[key] = CapCycle(decision.state, covered)
    new = CpuCaps(cycles)
    return CapsDecision(new, new.stopped(), stops, min(wakes) if wakes else None)
