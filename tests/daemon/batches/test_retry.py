"""Retry policy (pure)."""

from __future__ import annotations

import random

from batchd.daemon.batches.retry import RetryPolicy
from batchd.daemon.ops.step import ErrorKind


def test_only_transient_failures_retry_and_only_up_to_the_limit() -> None:
    policy = RetryPolicy(max_retries=2)
    assert policy.should_retry(ErrorKind.TRANSIENT, 1)
    assert policy.should_retry(ErrorKind.TRANSIENT, 2)
    assert not policy.should_retry(ErrorKind.TRANSIENT, 3)
    assert not policy.should_retry(ErrorKind.PERMANENT, 1)


def test_backoff_doubles_with_jitter_and_is_capped() -> None:
    policy = RetryPolicy(base=1.0, cap=5.0)
    rng = random.Random(0)
    for attempts, backoff in ((1, 1.0), (2, 2.0), (3, 4.0), (4, 5.0), (10, 5.0)):
        delays = [policy.delay(attempts, rng) for _ in range(200)]
        assert all(backoff / 2 <= d <= backoff for d in delays)
        assert max(delays) - min(delays) > backoff / 10  # jittered
