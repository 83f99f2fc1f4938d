"""When a failed item is tried again: exponential back-off with jitter. Pure."""

from __future__ import annotations

import random
from dataclasses import dataclass

from batchd.daemon.ops.step import ErrorKind


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """``max_retries`` extra attempts after the first for transient failures; the n-th retry
    waits ``base * 2**(n-1)`` seconds (capped at ``cap``), times a random factor in
    [0.5, 1.0] ("equal jitter") so that items failing together do not retry together."""

    max_retries: int = 3
    base: float = 1.0
    cap: float = 60.0

    def should_retry(self, kind: ErrorKind, attempts: int) -> bool:
        """True when an item that failed with ``kind`` after ``attempts`` tries runs again."""
        return kind is ErrorKind.TRANSIENT and attempts <= self.max_retries

    def delay(self, attempts: int, rng: random.Random) -> float:
        """Seconds to wait before the next try, after ``attempts`` tries so far."""
        backoff = min(self.cap, self.base * 2.0 ** max(0, attempts - 1))
        return float(backoff * (0.5 + rng.random() / 2))
