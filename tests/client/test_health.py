"""The verdict of ``batchctl check`` (pure): thresholds, stalls, limit actions, the line."""

from __future__ import annotations

import dataclasses

from fake_router import progress_of

from batchd.client.health import (
    Seen,
    Status,
    Thresholds,
    Verdict,
    assess,
    daemon_error,
    unknown,
)
from batchd.protocol.batch_messages import BatchProgress, BatchState
from batchd.protocol.messages import LimitActions

QUIET = LimitActions(0, 0.0, 0, 0)
NOW = 1_800_000_000.0


def judge(
    batches: list[BatchProgress],
    actions: LimitActions = QUIET,
    memory: dict[int, Seen] | None = None,
    now: float = NOW,
    **thresholds: float,
) -> Verdict:
    return assess(
        batches,
        actions,
        2,
        thresholds=Thresholds(**thresholds),  # type: ignore[arg-type]
        memory=memory or {},
        now=now,
    )


def running(batch: int, finished: int, elapsed: float = 5.0) -> BatchProgress:
    progress = progress_of(batch, BatchState.RUNNING, 100, finished)
    return dataclasses.replace(progress, elapsed=elapsed)


def test_ok_line_has_the_counts_and_perfdata() -> None:
    verdict = judge([running(1, 5), progress_of(2, BatchState.PENDING, 10, 0)])
    assert verdict.status is Status.OK
    assert verdict.line() == (
        "BATCHD OK - 2 active batches, 0 failed items | active=2;;;0 failed=0;1;10;0 "
        "stalled=0;;1;0 workers=2;;;0 memory_kills=0;2;;0 cpu_throttles=0;;;0"
    )


def test_failed_items_in_ended_batches_warn_then_turn_critical() -> None:
    failed = progress_of(3, BatchState.FAILED, 10, 8, failed=2)
    assert judge([failed]).status is Status.WARNING
    assert "2 failed items in batch 3" in judge([failed]).line()
    assert judge([failed], failed_crit=2).status is Status.CRITICAL
    assert judge([failed], failed_warn=3).status is Status.OK


def test_rolled_back_and_running_batches_do_not_count_as_failed() -> None:
    rolled = dataclasses.replace(
        progress_of(3, BatchState.FAILED, 10, 8, failed=2), state=BatchState.ROLLED_BACK
    )
    still_running = progress_of(4, BatchState.RUNNING, 10, 5, failed=2)
    assert judge([rolled, still_running]).status is Status.OK


def test_a_batch_that_finished_nothing_since_its_start_is_stalled_after_the_window() -> None:
    assert judge([running(1, 0, elapsed=599)]).status is Status.OK
    verdict = judge([running(1, 0, elapsed=600)])
    assert verdict.status is Status.CRITICAL
    assert "no progress for 10 min in batch 1" in verdict.line()


def test_a_count_unchanged_between_two_checks_is_stalled_once_the_window_passed() -> None:
    first = judge([running(1, 5)])
    assert first.memory == {1: Seen(5, NOW)}
    later = judge([running(1, 5)], memory=dict(first.memory), now=NOW + 299, stalled_minutes=5)
    assert later.status is Status.OK and later.memory == first.memory
    stalled = judge([running(1, 5)], memory=dict(first.memory), now=NOW + 300, stalled_minutes=5)
    assert stalled.status is Status.CRITICAL
    moved = judge([running(1, 6)], memory=dict(first.memory), now=NOW + 300, stalled_minutes=5)
    assert moved.status is Status.OK and moved.memory == {1: Seen(6, NOW + 300)}


def test_paused_batches_are_not_stalled_and_are_forgotten() -> None:
    paused = progress_of(1, BatchState.PAUSED, 100, 0)
    verdict = judge([paused], memory={1: Seen(0, NOW - 3600)})
    assert verdict.status is Status.OK and verdict.memory == {}


def test_repeated_memory_kills_warn_but_cpu_throttling_does_not() -> None:
    assert judge([], LimitActions(50, 20.0, 1, 0)).status is Status.OK
    verdict = judge([], LimitActions(0, 0.0, 1, 1))
    assert verdict.status is Status.WARNING
    assert "workers killed 2 times" in verdict.line()


def test_worst_status_wins() -> None:
    failed = progress_of(3, BatchState.FAILED, 10, 8, failed=2)
    verdict = judge([failed, running(1, 0, elapsed=3600)], LimitActions(0, 0.0, 3, 0))
    assert verdict.status is Status.CRITICAL
    assert len(verdict.reasons) == 3


def test_a_journal_error_is_critical() -> None:
    verdict = assess(
        [],
        QUIET,
        2,
        thresholds=Thresholds(),
        memory={},
        now=NOW,
        journal_error="fdatasync failed (EIO)",
    )
    assert verdict.status is Status.CRITICAL
    assert "journal error: fdatasync failed (EIO)" in verdict.line()


def test_errors_and_unreachable() -> None:
    assert daemon_error("journal\nfailed").line() == (
        "BATCHD CRITICAL - the daemon answered with an error: journal failed"
    )
    assert unknown("no batchd").status is Status.UNKNOWN
    assert unknown("no batchd").jsonable()["exit"] == 3
