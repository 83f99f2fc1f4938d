"""The smoothed rate and the ETA (pure)."""

from __future__ import annotations

from batchd.daemon.batches.progress import RateMeter, estimate_eta, fraction_done


def test_rate_converges_to_a_steady_rate() -> None:
    meter = RateMeter(started=0.0)
    now = 0.0
    for _ in range(200):
        now += 0.1
        meter.record(5, now)  # 50 items/s
    assert 45 <= meter.current(now) <= 55


def test_a_burst_does_not_set_the_rate_alone() -> None:
    meter = RateMeter(started=0.0)
    now = 0.0
    for _ in range(100):
        now += 0.1
        meter.record(1, now)  # 10 items/s
    meter.record(1000, now + 0.5)
    assert meter.current(now + 0.5) < 1000 / 0.5 / 2


def test_eta_is_none_until_something_finished() -> None:
    assert estimate_eta(10, 0.0, False) is None
    assert estimate_eta(10, 5.0, False) is None
    assert estimate_eta(10, 5.0, True) == 2.0
    assert estimate_eta(0, 0.0, False) == 0.0


def test_fraction_done() -> None:
    assert fraction_done(3, 1, 8) == 0.5
    assert fraction_done(0, 0, 0) == 1.0
