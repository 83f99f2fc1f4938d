"""Progress arithmetic: a smoothed completion rate and the ETA it gives. Pure.

The rate is an exponentially weighted average of per-interval completion rates, so one burst
of fast items (or the first few) does not set the ETA; time comes from the monotonic clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field

RATE_INTERVAL = 0.5
"""Seconds over which completions are counted before they update the smoothed rate."""
SMOOTHING = 0.3
"""Weight of the newest interval in the smoothed rate."""


@dataclass
class RateMeter:
    """Items per second, smoothed over intervals of ``RATE_INTERVAL`` seconds."""

    started: float
    rate: float = 0.0
    finished_any: bool = False
    _interval_start: float = field(default=-1.0, repr=False)
    _interval_count: int = field(default=0, repr=False)

    def record(self, count: int, now: float) -> None:
        """Count ``count`` items that finished at ``now``."""
        if count <= 0:
            return
        if self._interval_start < 0:
            self._interval_start = self.started
        self._interval_count += count
        self.finished_any = True
        self.tick(now)

    def tick(self, now: float) -> None:
        """Close the current interval when it is long enough."""
        if self._interval_start < 0:
            return
        elapsed = now - self._interval_start
        if elapsed < RATE_INTERVAL:
            return
        sample = self._interval_count / elapsed
        self.rate = sample if self.rate == 0.0 else SMOOTHING * sample + (1 - SMOOTHING) * self.rate
        self._interval_start = now
        self._interval_count = 0

    def current(self, now: float) -> float:
        """The rate to report now: the smoothed one, or the running average until the first
        interval has closed."""
        if self.rate > 0.0:
            return self.rate
        if self._interval_count and now > self.started:
            return self._interval_count / (now - self.started)
        return 0.0


def fraction_done(completed: int, failed: int, total: int) -> float:
    """(completed + failed) / total, 1.0 for an empty batch."""
    return 1.0 if total == 0 else (completed + failed) / total


def estimate_eta(remaining: int, rate: float, finished_any: bool) -> float | None:
    """Seconds left, or None until an item has finished (or while the rate is unknown)."""
    if remaining == 0:
        return 0.0
    if not finished_any or rate <= 0.0:
        return None
    return remaining / rate
