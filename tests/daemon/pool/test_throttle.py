"""The CPU duty cycle as a pure function, driven by a simulated machine (no processes)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import pytest

from batchd.daemon.pool.throttle import (
    HYSTERESIS,
    MIN_RUN,
    PERIOD,
    CpuAction,
    CpuSamples,
    DutyCycle,
    decide_cpu,
    sample_due,
)

CPUS = 2


@dataclass
class Machine:
    """``busy`` CPU-bound processes split over two workers, on ``CPUS`` CPUs: while the
    workers run they use min(busy, CPUS) CPU-seconds per second; stopped, none."""

    busy: int
    now: float = 0.0
    stopped: bool = False
    used: list[float] = field(default_factory=lambda: [0.0, 0.0])
    stopped_for: list[float] = field(default_factory=list)
    _stopped_since: float | None = None

    def advance(self, until: float) -> None:
        if not self.stopped:
            rate = min(self.busy, CPUS)
            share = rate * (until - self.now) / 2
            self.used = [self.used[0] + share, self.used[1] + share]
        self.now = until

    def samples(self) -> CpuSamples:
        return CpuSamples(self.now, {100: self.used[0], 200: self.used[1]})

    def act(self, action: CpuAction) -> None:
        if action is CpuAction.STOP:
            assert not self.stopped
            self.stopped, self._stopped_since = True, self.now
        elif action is CpuAction.CONTINUE:
            assert self.stopped and self._stopped_since is not None
            self.stopped = False
            self.stopped_for.append(self.now - self._stopped_since)


def _run(
    machine: Machine, cap: float | None, seconds: float, state: DutyCycle, late: float = 0.004
) -> DutyCycle:
    """Call decide_cpu when it asks to be woken, a random bit late (the loop's latency)."""
    rng = random.Random(7)
    end = machine.now + seconds
    wake: float | None = machine.now
    while machine.now < end:
        target = min(end, (wake if wake is not None else machine.now + PERIOD))
        machine.advance(max(machine.now, target) + rng.uniform(0, late))
        due = sample_due(state, PERIOD, machine.now)
        decision = decide_cpu(state, machine.samples() if due else None, cap, PERIOD, machine.now)
        machine.act(decision.action)
        state, wake = decision.state, decision.wake_at
    return state


def _usage(machine: Machine, cap: float | None, seconds: float, state: DutyCycle) -> float:
    """CPU-seconds per second measured over ``seconds`` after the run so far."""
    start, used = machine.now, sum(machine.used)
    _run(machine, cap, seconds, state)
    return (sum(machine.used) - used) / (machine.now - start)


@pytest.mark.parametrize("busy", [1, 2, 4])
@pytest.mark.parametrize("percent", [25, 50, 75])
def test_the_duty_cycle_converges_to_the_cap(busy: int, percent: int) -> None:
    cap = percent / 100 * CPUS
    machine = Machine(busy)
    state = _run(machine, cap, 3.0, DutyCycle())  # settle
    measured = _usage(machine, cap, 10.0, state)
    demand = min(busy, CPUS)
    if demand <= cap * (1 + HYSTERESIS):
        assert measured == pytest.approx(demand, rel=0.01)  # under the cap: never stopped
        assert machine.stopped_for == []
    else:
        assert measured == pytest.approx(cap, rel=0.05)


def test_convergence_survives_a_late_loop() -> None:
    """The loop wakes up to 20 ms late: the stops are planned earlier by the lateness seen."""
    machine = Machine(4)
    state = DutyCycle()
    rng_late = 0.02
    state = _run(machine, 1.0, 3.0, state, late=rng_late)
    start, used = machine.now, sum(machine.used)
    _run(machine, 1.0, 10.0, state, late=rng_late)
    assert (sum(machine.used) - used) / (machine.now - start) == pytest.approx(1.0, rel=0.1)


def _after_one_period(throttling: bool, demand: float) -> DutyCycle:
    """A period in which the workers ran throughout and used ``demand`` CPU-s/s."""
    state = DutyCycle(period_start=0.0, baseline={1: 0.0}, throttling=throttling, demand=demand)
    samples = CpuSamples(PERIOD, {1: demand * PERIOD})
    return decide_cpu(state, samples, 1.0, PERIOD, PERIOD).state


def test_a_demand_near_the_cap_does_not_flap() -> None:
    """Inside the band around the cap the throttle keeps what it was doing."""
    inside_above, inside_below = 1 + HYSTERESIS / 2, 1 - HYSTERESIS / 2
    assert not _after_one_period(False, inside_above).throttling
    assert _after_one_period(True, inside_below).throttling
    assert _after_one_period(False, 1 + 2 * HYSTERESIS).throttling
    assert not _after_one_period(True, 1 - 2 * HYSTERESIS).throttling
    machine = Machine(1)  # demand exactly 1.0 CPU against a cap of 1.0: never stopped
    _run(machine, 1.0, 5.0, DutyCycle())
    assert machine.stopped_for == []


def test_stops_never_outlast_a_period() -> None:
    machine = Machine(4)
    _run(machine, 0.02, 10.0, DutyCycle())  # 1 % of the machine: the longest stops
    assert machine.stopped_for
    assert max(machine.stopped_for) <= PERIOD * (1 - MIN_RUN) + 0.005


def test_a_period_that_ends_without_samples_still_continues() -> None:
    state = DutyCycle(period_start=0.0, baseline={1: 0.0}, stop_at=0.1, stopped_at=0.1)
    decision = decide_cpu(state, None, 1.0, PERIOD, PERIOD + 0.5)
    assert decision.action is CpuAction.CONTINUE
    assert not decision.state.stopped
    assert decision.wake_at is not None


def test_lifting_the_cap_continues_at_once() -> None:
    state = DutyCycle(period_start=0.0, baseline={1: 0.0}, stop_at=0.05, stopped_at=0.05)
    decision = decide_cpu(state, None, None, PERIOD, 0.06)
    assert decision.action is CpuAction.CONTINUE
    assert decision.wake_at is None
    idle = decide_cpu(decision.state, None, None, PERIOD, 0.07)
    assert idle.action is CpuAction.NONE


def test_idle_workers_are_never_stopped() -> None:
    machine = Machine(0)
    _run(machine, 0.2, 5.0, DutyCycle())
    assert machine.stopped_for == []


def test_it_asks_to_be_woken_for_the_stop_and_the_period_end() -> None:
    machine = Machine(4)
    state = _run(machine, 1.0, 2.0, DutyCycle())
    now = machine.now
    decision = decide_cpu(state, None, 1.0, PERIOD, now)
    assert decision.wake_at is not None
    assert now <= decision.wake_at <= state.period_start + PERIOD
