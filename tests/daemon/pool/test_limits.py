"""The memory decisions and the limits' data, as pure functions."""

from __future__ import annotations

import pytest

from batchd.daemon.ops.step import ErrorKind, Outcome
from batchd.daemon.pool.limits import (
    HOLD_BACK_FOR,
    MIB,
    HoldBack,
    Limits,
    MemorySample,
    backstop_outcome,
    decide_memory,
    hold_back,
    memory_error,
    pss_wanted,
)


def test_default_limits_limit_nothing() -> None:
    limits = Limits()
    assert not limits.sampled and not limits.cpu_capped and not limits.memory_limited
    assert limits.cpu_cap(4) is None
    assert limits.backstop is None


def test_cpu_cap_is_in_cpu_seconds_per_second_of_the_whole_machine() -> None:
    assert Limits(cpu_percent=50).cpu_cap(2) == 1.0
    assert Limits(cpu_percent=25).cpu_cap(8) == 2.0


def test_the_backstop_is_a_margin_above_the_limit() -> None:
    assert Limits(worker_memory_mb=256).backstop == 768 * MIB
    assert Limits(worker_memory_mb=2048).backstop == 4096 * MIB


@pytest.mark.parametrize(
    "bad",
    [
        {"cpu_percent": 0},
        {"cpu_percent": 101},
        {"worker_memory_mb": -1},
        {"nice": 20},
        {"ionice_class": "realtime"},
        {"ionice_level": 8},
    ],
)
def test_bad_limits_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Limits(**bad)  # type: ignore[arg-type]


def test_memory_error_rounds_so_the_figure_is_above_the_limit() -> None:
    assert memory_error(256 * MIB + 1, 256 * MIB) == "memory limit exceeded (257 MiB > 256 MiB)"
    assert memory_error(600 * MIB, 256 * MIB) == "memory limit exceeded (600 MiB > 256 MiB)"


def test_a_worker_over_its_limit_is_killed_and_only_it() -> None:
    samples = [MemorySample(1, 900 * MIB, 300 * MIB), MemorySample(2, 900 * MIB, 250 * MIB)]
    kills = decide_memory(samples, 256 * MIB, 0)
    assert [kill.worker for kill in kills] == [1]
    assert kills[0].error == "memory limit exceeded (300 MiB > 256 MiB)"
    assert not kills[0].over_total
    assert "worker 1" in kills[0].diagnostics


def test_pss_counts_not_rss_when_it_was_read() -> None:
    """RSS double-counts shared pages; when PSS was read it decides."""
    assert decide_memory([MemorySample(1, 400 * MIB, 200 * MIB)], 256 * MIB, 0) == []


def test_over_the_total_the_biggest_go_until_the_rest_fits() -> None:
    samples = [
        MemorySample(1, 0, 300 * MIB),
        MemorySample(2, 0, 500 * MIB),
        MemorySample(3, 0, 400 * MIB),
    ]
    kills = decide_memory(samples, 0, 1000 * MIB)
    assert [kill.worker for kill in kills] == [2]
    assert kills[0].over_total
    assert kills[0].error == "memory limit exceeded (1200 MiB > 1000 MiB)"
    kills = decide_memory(samples, 0, 500 * MIB)
    assert [kill.worker for kill in kills] == [2, 3]


def test_a_worker_killed_for_its_own_limit_does_not_count_towards_the_total() -> None:
    samples = [MemorySample(1, 0, 700 * MIB), MemorySample(2, 0, 300 * MIB)]
    kills = decide_memory(samples, 512 * MIB, 900 * MIB)
    assert [(kill.worker, kill.over_total) for kill in kills] == [(1, False)]


def test_pss_is_read_only_where_rss_crosses_a_limit() -> None:
    rss = {1: 100 * MIB, 2: 300 * MIB}
    assert pss_wanted(rss, 256 * MIB, 0) == {2}
    assert pss_wanted(rss, 256 * MIB, 350 * MIB) == {1, 2}
    assert pss_wanted(rss, 0, 500 * MIB) == set()


def test_hold_back_after_total_kills_and_give_back_one_at_a_time() -> None:
    state = hold_back(HoldBack(), size=4, total_kills=1, total_used=0, total_limit=100, now=0.0)
    assert state == HoldBack(1, HOLD_BACK_FOR)
    state = hold_back(state, size=4, total_kills=5, total_used=0, total_limit=100, now=1.0)
    assert state.workers == 3  # at least one worker keeps running
    early = hold_back(state, size=4, total_kills=0, total_used=10, total_limit=100, now=30.0)
    assert early == state
    later = 1.0 + HOLD_BACK_FOR
    squeezed = hold_back(state, size=4, total_kills=0, total_used=90, total_limit=100, now=later)
    assert squeezed == state  # hysteresis: memory still near the limit, nothing comes back
    freed = hold_back(state, size=4, total_kills=0, total_used=10, total_limit=100, now=later)
    assert freed == HoldBack(2, later + HOLD_BACK_FOR)


def test_a_memory_error_under_the_backstop_fails_like_a_kill() -> None:
    failed = Outcome.failure(7, ErrorKind.PERMANENT, "handler hog raised MemoryError: ")
    outcome = backstop_outcome(failed, 256 * MIB, 768 * MIB)
    assert outcome.error == "memory limit exceeded (768 MiB > 256 MiB)"
    assert outcome.error_kind is ErrorKind.TRANSIENT
    assert "handler hog raised MemoryError" in outcome.diagnostics
    other = Outcome.failure(7, ErrorKind.PERMANENT, "handler hog raised ValueError: no")
    assert backstop_outcome(other, 256 * MIB, 768 * MIB) is other
