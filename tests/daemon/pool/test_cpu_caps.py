"""Several CPU caps at once (the workers' and per batch), as pure decisions over fake samples."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field

import pytest

from batchd.daemon.pool.cpu_caps import CpuCaps, decide_caps
from batchd.daemon.pool.limits import Limits
from batchd.daemon.pool.throttle import PERIOD, CpuSamples

CPUS = 4
STEP = 0.01  # the simulated loop turn; the decisions' wakes are rounded up to it


@dataclass
class World:
    """Workers burning one CPU-second per second each while not stopped; ``batch_of`` says
    which batch each runs (None: idle). Decisions run every ``STEP``; samples when due."""

    batch_of: dict[int, int | None]
    cpu: dict[int, float] = field(default_factory=dict)
    state: CpuCaps = field(default_factory=CpuCaps)
    stopped: frozenset[int] = frozenset()
    now: float = 0.0
    next_sample: float = 0.0
    stops: int = 0
    sample_times: list[float] = field(default_factory=list)
    stopped_ever: set[int] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.cpu = {pid: 0.0 for pid in self.batch_of}

    def busy(self) -> dict[int, int | None]:
        return {pid: batch for pid, batch in self.batch_of.items() if batch is not None}

    def run(self, limits: Limits, seconds: float) -> dict[int | None, float]:
        """Run for ``seconds``; the CPU-seconds per second used by each batch (None: all)."""
        before = dict(self.cpu)
        start, busy_before = self.now, self.busy()
        end = self.now + seconds
        while self.now < end - 1e-9:
            self.turn(limits)
            self.now += STEP
            for pid, batch in self.batch_of.items():
                if batch is not None and pid not in self.stopped:
                    self.cpu[pid] += STEP
        used: dict[int | None, float] = {None: 0.0}
        for pid, batch in busy_before.items():
            delta = (self.cpu[pid] - before[pid]) / (self.now - start)
            used[None] += delta
            used[batch] = used.get(batch, 0.0) + delta
        return used

    def turn(self, limits: Limits) -> None:
        due = self.now >= self.next_sample - 1e-9 or self.state.sample_due(PERIOD, self.now)
        samples = None
        if due:
            samples = CpuSamples(self.now, dict(self.cpu))
            self.next_sample = self.now + PERIOD
            self.sample_times.append(round(self.now, 6))
        decision = decide_caps(
            self.state, self.busy(), samples, limits.cpu_caps(CPUS), period=PERIOD, now=self.now
        )
        self.state, self.stopped = decision.state, decision.stopped
        self.stops += decision.stops
        self.stopped_ever |= decision.stopped


def _four_workers(a: int = 1, b: int = 2) -> dict[int, int | None]:
    """Workers 1 and 2 run batch ``a``, 3 and 4 batch ``b``."""
    return {1: a, 2: a, 3: b, 4: b}


def _close(used: Mapping[int | None, float], key: int | None, want: float) -> bool:
    return abs(used[key] - want) <= 0.1 * want


def test_a_batch_cap_throttles_only_that_batch() -> None:
    world = World(_four_workers())
    limits = Limits().with_batch_cpu(1, 25)  # 25 % of 4 CPUs: 1 CPU-s/s for batch 1
    world.run(limits, 2.0)  # settle
    world.stopped_ever.clear()
    used = world.run(limits, 10.0)
    assert _close(used, 1, 1.0), used
    assert used[2] == pytest.approx(2.0)  # batch 2 runs flat out
    assert world.stopped_ever <= {1, 2}
    assert world.stops > 10


@pytest.mark.parametrize(
    ("workers_percent", "batch_percent", "want_batch", "want_total"),
    [
        (50, 10, 0.4, 2.0),  # both act: batch 1 at 0.4, batch 2 gets the rest of 2.0
        (25, 40, None, 1.0),  # the workers' cap is tighter: it alone decides
        (90, 30, 1.2, 3.2),  # the workers' cap is above the demand left: only the batch's acts
    ],
)
def test_batch_and_workers_caps_combine_to_the_tighter(
    workers_percent: int, batch_percent: int, want_batch: float | None, want_total: float
) -> None:
    world = World(_four_workers())
    limits = Limits(cpu_percent=workers_percent).with_batch_cpu(1, batch_percent)
    world.run(limits, 3.0)
    used = world.run(limits, 10.0)
    assert _close(used, None, want_total), used
    if want_batch is not None:
        assert _close(used, 1, want_batch), used
    assert used[1] <= batch_percent / 100 * CPUS * 1.1


def test_every_cycle_samples_at_the_same_moments() -> None:
    world = World(_four_workers())
    limits = Limits(cpu_percent=50)
    world.run(limits, 0.55)
    world.run(limits.with_batch_cpu(1, 10), 0.55)  # the batch cap arrives mid-period
    world.run(limits.with_batch_cpu(1, 10).with_batch_cpu(2, 20), 1.0)
    times = world.sample_times
    gaps = {round(later - earlier, 6) for earlier, later in itertools.pairwise(times)}
    assert gaps == {PERIOD}
    assert set(world.state.cycles) == {None, 1, 2}


def test_a_worker_that_switches_batches_switches_cycles() -> None:
    world = World(_four_workers())
    limits = Limits().with_batch_cpu(1, 10)
    world.run(limits, 2.0)
    while 1 not in world.stopped:  # in batch 1's stop phase
        world.run(limits, STEP)
    world.batch_of[1] = 2  # worker 1 starts a chunk of batch 2: runs at once
    world.turn(limits)
    assert 1 not in world.stopped and world.state.cycles[1].members == {2}
    world.stopped_ever.clear()
    used = world.run(limits, 6.0)
    assert 1 not in world.stopped_ever
    assert _close(used, 1, 0.4), used  # batch 1, down to worker 2, still gets its cap
    world.batch_of[3] = 1  # worker 3 joins batch 1: the cap covers it at once
    world.run(limits, 1.0)
    assert world.state.cycles[1].members == {2, 3}
    used = world.run(limits, 6.0)
    assert _close(used, 1, 0.4), used


def test_a_cap_removed_or_without_workers_drops_its_cycle() -> None:
    world = World(_four_workers())
    capped = Limits(cpu_percent=75).with_batch_cpu(1, 10)
    world.run(capped, 2.0)
    while 1 not in world.stopped:
        world.run(capped, STEP)
    # The batch ended (its cap is dropped): its workers run on, the workers' cycle stays.
    lifted = capped.with_batch_cpu(1, None)
    state = world.state.keep(lifted.cpu_caps(CPUS))
    assert set(state.cycles) == {None}
    assert not {1, 2} & state.stopped()
    world.state = state
    world.turn(lifted)
    assert not {1, 2} & world.stopped
    # A capped batch with no busy worker at a sample forgets its demand.
    world.batch_of.update({1: None, 2: None})
    world.run(capped, 2 * PERIOD)
    assert 1 not in world.state.cycles
    world.batch_of.update({1: 1, 2: 1})
    world.run(capped, 3.0)
    used = world.run(capped, 6.0)
    assert _close(used, 1, 0.4), used


def test_no_caps_no_cycles_nothing_stopped() -> None:
    decision = decide_caps(CpuCaps(), {1: 1}, CpuSamples(0.0, {1: 0.0}), {}, period=PERIOD, now=0.0)
    assert decision.state.cycles == {} and decision.stopped == frozenset()
    assert decision.wake_at is None and decision.stops == 0


def test_limits_carry_batch_caps() -> None:
    limits = Limits(cpu_percent=50).with_batch_cpu(3, 20).with_batch_cpu(1, 40)
    assert limits.batch_cpu_percent == ((1, 40), (3, 20))
    assert limits.cpu_caps(2) == {None: 1.0, 1: 0.8, 3: 0.4}
    assert limits.batch_cpu(3) == 20 and limits.batch_cpu(2) is None
    assert limits.with_batch_cpu(3, 100).batch_cpu_percent == ((1, 40),)
    assert Limits().with_batch_cpu(1, 30).sampled
    with pytest.raises(ValueError, match="batch 1"):
        Limits(batch_cpu_percent=((1, 0),))
    with pytest.raises(ValueError, match="one CPU cap"):
        Limits(batch_cpu_percent=((1, 10), (1, 20)))
