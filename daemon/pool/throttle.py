"""The CPU cap as a duty cycle: a pure function from CPU-time samples to stop/continue actions.

Every ``period`` seconds the governor samples the cumulative CPU time of each worker tree (the
worker and all its descendants). ``decide_cpu`` turns the CPU time used in the period just
ended into the workers' *demand* — CPU-seconds per second they would use unthrottled — by
dividing it by the fraction of the period they were actually allowed to run. The next period
then lets them run for ``cap / demand`` of it and stops the whole set (SIGSTOP) for the rest;
SIGCONT starts the next period. The demand is smoothed, and the stop is planned earlier by
the smoothed lateness of past stops (the daemon's loop wakes a little late), so the measured
total converges to the cap whatever the number of busy processes.

Why duty cycling and not fewer workers: concurrency changes act per chunk (seconds to
minutes), cannot express 30 % of two cores, and do nothing about one multi-threaded command;
stopping the set for part of each short period caps any mix within a second or two.

Guarantees the tests check: a stop lasts at most ``(1 - MIN_RUN) * period`` past the
planned stop (the next decision always continues), lifting the cap continues at once, and
throttling engages only above ``cap * (1 + HYSTERESIS)`` and disengages below
``cap * (1 - HYSTERESIS)`` so a demand near the cap does not flap.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Final

PERIOD: Final = 0.2
MIN_RUN: Final = 0.02
HYSTERESIS: Final = 0.05
SMOOTHING: Final = 0.5


class CpuAction(enum.Enum):
    """What the governor does to the throttled workers now."""

    NONE = "none"
    STOP = "stop"
    CONTINUE = "continue"


@dataclass(frozen=True, slots=True)
class CpuSamples:
    """Cumulative CPU seconds of each worker's tree (by worker pid), read at ``at``."""

    at: float
    cpu_seconds: Mapping[int, float]


@dataclass(frozen=True, slots=True)
class DutyCycle:
    """The throttle's memory from one decision to the next.

    ``baseline`` holds the samples taken when the current period started (None: not
    started); ``stop_at`` is the planned stop, ``stopped_at`` the actual one (None: the
    workers run); ``demand`` the smoothed unthrottled CPU-seconds per second, ``lag`` the
    smoothed lateness of stops; ``usage`` the CPU-seconds per second measured last period.
    """

    period_start: float = 0.0
    baseline: Mapping[int, float] | None = None
    stop_at: float | None = None
    stopped_at: float | None = None
    run_fraction: float = 1.0
    demand: float | None = None
    lag: float = 0.0
    throttling: bool = False
    usage: float | None = None

    @property
    def stopped(self) -> bool:
        """Whether the throttled workers are stopped now."""
        return self.stopped_at is not None


@dataclass(frozen=True, slots=True)
class CpuDecision:
    """The new state, what to do now and when to decide again (None: not until a cap)."""

    state: DutyCycle
    action: CpuAction
    wake_at: float | None


def sample_due(state: DutyCycle, period: float, now: float) -> bool:
    """Whether ``decide_cpu`` needs fresh samples now (a period ends or none started)."""
    return state.baseline is None or now >= state.period_start + period


def decide_cpu(
    state: DutyCycle, samples: CpuSamples | None, cap: float | None, period: float, now: float
) -> CpuDecision:
    """The next step of the duty cycle.

    ``cap`` is in CPU-seconds per second (50 % of 2 CPUs = 1.0; None: no cap). ``samples``
    are needed when ``sample_due``; without them a period that ends still continues the
    workers (it starts afresh at the next samples), so nothing stays stopped.
    """
    resume = CpuAction.CONTINUE if state.stopped else CpuAction.NONE
    if cap is None:
        return CpuDecision(DutyCycle(usage=state.usage), resume, None)
    if sample_due(state, period, now):
        if samples is None:
            return CpuDecision(DutyCycle(period_start=now), resume, now + period)
        return _new_period(state, samples, cap=cap, period=period, now=now, action=resume)
    end = state.period_start + period
    if not state.stopped and state.stop_at is not None and now >= state.stop_at:
        return CpuDecision(replace(state, stopped_at=now), CpuAction.STOP, end)
    wake = state.stop_at if not state.stopped and state.stop_at is not None else end
    return CpuDecision(state, CpuAction.NONE, wake)


def _new_period(
    state: DutyCycle,
    samples: CpuSamples,
    *,
    cap: float,
    period: float,
    now: float,
    action: CpuAction,
) -> CpuDecision:
    demand, lag, usage = state.demand, state.lag, state.usage
    baseline = state.baseline
    elapsed = now - state.period_start
    if baseline is not None and elapsed > 0:
        used = sum(
            max(0.0, seconds - baseline[worker])
            for worker, seconds in samples.cpu_seconds.items()
            if worker in baseline
        )
        usage = used / elapsed
        ran = (now if state.stopped_at is None else state.stopped_at) - state.period_start
        run_fraction = min(1.0, max(ran / elapsed, MIN_RUN / 2))
        measured = usage / run_fraction
        demand = measured if demand is None else SMOOTHING * measured + (1 - SMOOTHING) * demand
        if state.stopped_at is not None and state.stop_at is not None:
            late = state.stopped_at - state.stop_at
            lag = SMOOTHING * late + (1 - SMOOTHING) * lag
    throttling = state.throttling
    if demand is not None:
        if throttling:
            throttling = demand > cap * (1 - HYSTERESIS)
        else:
            throttling = demand > cap * (1 + HYSTERESIS)
    fraction = 1.0
    if throttling and demand is not None and demand > 0:
        fraction = min(1.0, max(MIN_RUN, cap / demand))
    stop_at = None
    if fraction < 1.0:
        stop_at = now + max(MIN_RUN * period, fraction * period - lag)
    new = DutyCycle(
        period_start=now,
        baseline=dict(samples.cpu_seconds),
        stop_at=stop_at,
        stopped_at=None,
        run_fraction=fraction,
        demand=demand,
        lag=lag,
        throttling=throttling,
        usage=usage,
    )
    return CpuDecision(new, action, now + period if stop_at is None else stop_at)
