"""Supervision decisions: pure functions, no processes, no clock."""

from __future__ import annotations

import signal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from batchd.daemon.ops.step import OpKind, Step
from batchd.daemon.pool import decisions
from batchd.daemon.pool.board import Progress
from batchd.daemon.pool.decisions import Attribution, InFlight


def test_the_board_names_the_running_step_even_when_outcomes_lag() -> None:
    board = Progress(chunk_id=7, position=4, started=50.0)
    assert decisions.in_flight(7, 10, 2, 10.0, board) == InFlight(4, 50.0)


def test_without_a_board_the_first_step_without_an_outcome_runs_since_the_last_outcome() -> None:
    assert decisions.in_flight(7, 10, 3, 12.5, None) == InFlight(3, 12.5)
    assert decisions.in_flight(7, 10, 10, 12.5, None) is None


def test_a_board_of_an_earlier_chunk_is_ignored() -> None:
    stale = Progress(chunk_id=6, position=9, started=1.0)
    assert decisions.in_flight(7, 10, 0, 20.0, stale) == InFlight(0, 20.0)


def test_between_two_steps_nothing_runs() -> None:
    assert decisions.in_flight(7, 10, 3, 1.0, Progress(7, 4, None)) is None
    assert decisions.in_flight(7, 4, 3, 1.0, Progress(7, 4, None)) is None


def test_a_step_limit_is_its_own_else_the_chunk_default_else_none() -> None:
    assert decisions.step_limit(3.0, 30.0) == 3.0
    assert decisions.step_limit(0.0, 30.0) == 30.0
    assert decisions.step_limit(0.0, 0.0) is None


def test_timeout_counts_the_grace_after_the_limit() -> None:
    flight = InFlight(2, 100.0)
    assert not decisions.timed_out(flight, 2.0, 0.5, 102.49)
    assert decisions.timed_out(flight, 2.0, 0.5, 102.5)
    assert not decisions.timed_out(flight, None, 0.5, 1e9)
    assert not decisions.timed_out(None, 2.0, 0.5, 1e9)


def test_suffix_minimum_of_limits() -> None:
    assert decisions.suffix_min_limits([5.0, None, 2.0, None, 9.0]) == [2.0, 2.0, 2.0, 9.0, 9.0]
    assert decisions.suffix_min_limits([None, None]) == [None, None]


def test_time_stopped_by_the_cpu_cap_does_not_count_against_a_step() -> None:
    flight = InFlight(0, 100.0)
    assert not decisions.timed_out(flight, 2.0, 0.5, 103.0, paused=0.6)
    assert decisions.timed_out(flight, 2.0, 0.5, 103.1, paused=0.6)
    assert decisions.wake_deadline(flight, 2.0, 0.5, paused=0.6) == 103.1


def test_wake_deadline_is_the_earliest_moment_a_remaining_step_can_time_out() -> None:
    assert decisions.wake_deadline(InFlight(1, 10.0), 2.0, 0.5) == 12.5
    assert decisions.wake_deadline(InFlight(1, 10.0), None, 0.5) is None
    assert decisions.wake_deadline(None, 2.0, 0.5) is None


def test_a_crash_fails_the_running_step_and_returns_the_others() -> None:
    verdict = decisions.attribute_death(7, 6, 2, Progress(7, 2, 5.0))
    assert verdict == Attribution(failed=2, returned=(3, 4, 5))


def test_steps_whose_outcomes_died_with_the_worker_are_returned_not_failed() -> None:
    verdict = decisions.attribute_death(7, 6, 1, Progress(7, 4, 5.0))
    assert verdict == Attribution(failed=4, returned=(1, 2, 3, 5))


def test_a_death_between_steps_fails_nothing() -> None:
    verdict = decisions.attribute_death(7, 6, 3, Progress(7, 3, None))
    assert verdict == Attribution(failed=None, returned=(3, 4, 5))


def test_a_death_before_the_chunk_started_fails_nothing() -> None:
    verdict = decisions.attribute_death(7, 3, 0, Progress(6, 9, None))
    assert verdict == Attribution(failed=None, returned=(0, 1, 2))


def test_without_a_board_the_first_step_without_an_outcome_is_blamed() -> None:
    assert decisions.attribute_death(7, 3, 1, None) == Attribution(1, (2,))
    assert decisions.attribute_death(7, 3, 3, None) == Attribution(None, ())


def test_a_timeout_kill_blames_only_the_step_that_timed_out() -> None:
    same = decisions.attribute_death(7, 4, 1, Progress(7, 1, 5.0), timed_out_at=1)
    assert same == Attribution(1, (2, 3))
    moved_on = decisions.attribute_death(7, 4, 2, Progress(7, 2, 9.0), timed_out_at=1)
    assert moved_on == Attribution(None, (2, 3))


def test_a_shutdown_kill_blames_nobody() -> None:
    verdict = decisions.attribute_death(7, 4, 1, Progress(7, 1, 5.0), shutting_down=True)
    assert verdict == Attribution(None, (1, 2, 3))


@given(
    length=st.integers(0, 20),
    received=st.integers(0, 20),
    position=st.integers(0, 25),
    running=st.booleans(),
    same_chunk=st.booleans(),
)
def test_every_unreported_step_is_failed_or_returned_exactly_once(
    length: int, received: int, position: int, running: bool, same_chunk: bool
) -> None:
    received = min(received, length)
    position = max(position, received) if same_chunk else position
    board = Progress(7 if same_chunk else 6, position, 1.0 if running else None)
    verdict = decisions.attribute_death(7, length, received, board)
    reported = list(verdict.returned) + ([verdict.failed] if verdict.failed is not None else [])
    assert sorted(reported) == list(range(received, length))


@pytest.mark.parametrize(
    ("returncode", "timeout", "expected"),
    [
        (-signal.SIGABRT, None, "worker 42 died with SIGABRT while running this item"),
        (-signal.SIGSEGV, None, "worker 42 died with SIGSEGV while running this item"),
        (3, None, "worker 42 exited with status 3 while running this item"),
        (0, None, "worker 42 exited unexpectedly while running this item"),
        (-signal.SIGKILL, 2.0, "timed out after 2 s; worker 42 was killed"),
        (-signal.SIGKILL, 0.25, "timed out after 0.25 s; worker 42 was killed"),
    ],
)
def test_death_reasons(returncode: int, timeout: float | None, expected: str) -> None:
    assert decisions.death_reason(42, returncode, timeout=timeout) == expected


def test_an_outside_sigkill_says_who_may_have_sent_it() -> None:
    reason = decisions.death_reason(42, -signal.SIGKILL)
    assert reason.startswith("worker 42 was killed with SIGKILL while running this item")
    assert "out-of-memory" in reason


@pytest.mark.parametrize(
    ("op", "size", "expected"),
    [
        (OpKind.MOVE, 0, False),
        (OpKind.DELETE, 10**9, False),
        (OpKind.MKDIR, 0, False),
        (OpKind.CHECKSUM, 4096, False),
        (OpKind.COPY, 4096, False),
        (OpKind.COPY, 0, True),  # size unknown
        (OpKind.CHECKSUM, 10**9, True),
        (OpKind.TRANSFORM, 10, True),
        (OpKind.CALL, 10, True),
    ],
)
def test_outcomes_go_out_before_a_step_that_may_take_long(
    op: OpKind, size: int, expected: bool
) -> None:
    assert decisions.may_take_long(Step(0, 1, op, b"/p", size=size)) is expected


def test_recycling() -> None:
    assert not decisions.should_recycle(9, 10)
    assert decisions.should_recycle(10, 10)
    assert not decisions.should_recycle(10**9, 0)


def test_only_handler_steps_count_towards_recycling() -> None:
    steps = [
        Step(0, 1, OpKind.MOVE, b"/a", b"/b"),
        Step(1, 2, OpKind.CALL, b"/a", handler="h"),
        Step(2, 3, OpKind.TRANSFORM, b"/a", command=("cat",)),
        Step(3, 4, OpKind.CALL, b"/c", handler="h"),
    ]
    assert decisions.handler_steps(steps) == 2
    assert decisions.handler_steps(steps[:1]) == 0


def test_only_unproductive_deaths_feed_the_back_off() -> None:
    assert decisions.counts_as_start_failure(finished_any_item=False, stopped_by_pool=False)
    assert not decisions.counts_as_start_failure(finished_any_item=True, stopped_by_pool=False)
    assert not decisions.counts_as_start_failure(finished_any_item=False, stopped_by_pool=True)


def test_restart_back_off_doubles_up_to_a_cap() -> None:
    delays = [decisions.restart_delay(n, base=0.1, cap=1.0) for n in range(6)]
    assert delays == [0.0, 0.1, 0.2, 0.4, 0.8, 1.0]
    assert decisions.restart_delay(10_000) == decisions.RESTART_CAP


def test_earliest() -> None:
    assert decisions.earliest([None, 5.0, 3.0, None]) == 3.0
    assert decisions.earliest([None]) is None
    assert decisions.earliest([]) is None
