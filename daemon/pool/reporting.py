"""When the pool's figures go to the event stream: ``StatsCadence``, a pure clock-driven rule.

The daemon publishes the worker figures of ``stats`` (a ``daemon.stats`` event) every
``STATS_INTERVAL`` seconds at most while any worker runs a chunk, once more after they all
stopped (so a subscriber sees the idle state), and at once when the limits change. The rule
asks whether workers run only when the interval has passed, so the check costs nothing on
most loop turns.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

STATS_INTERVAL: Final = 2.0


@dataclass
class StatsCadence:
    """The publishing rule's memory: when figures last went out, whether workers ran then,
    and whether the limits changed since."""

    last: float = float("-inf")
    running: bool = False
    limits_changed: bool = False

    def due(self, now: float, running: Callable[[], bool]) -> bool:
        """Whether to publish now; ``running`` says whether any worker runs a chunk."""
        if self.limits_changed:
            return True
        if now < self.last + STATS_INTERVAL:
            return False
        return self.running or running()

    def published(self, now: float, running: bool) -> None:
        """Figures went out at ``now``, with workers ``running`` or not."""
        self.last, self.running, self.limits_changed = now, running, False
