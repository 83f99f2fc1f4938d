"""RunningChunk: every step of a chunk is reported exactly once, whatever the worker does."""

from __future__ import annotations

import signal

import pytest

from batchd.daemon.ops.step import ErrorKind, OpKind, Outcome, Step
from batchd.daemon.pool.board import Progress
from batchd.daemon.pool.executor import Chunk, ChunkFinished, ItemFinished, StepsReturned
from batchd.daemon.pool.framing import FrameError
from batchd.daemon.pool.tracking import KillCause, RunningChunk

STEPS = tuple(Step(10 + i, 1 + i, OpKind.MOVE, b"/a%d" % i, b"/b%d" % i) for i in range(4))
CHUNK = Chunk(5, 3, STEPS, (None,) * 4, 2.0)


def test_outcomes_then_done() -> None:
    running = RunningChunk.start(CHUNK, now=1.0)
    events = running.receive((Outcome(10, True), Outcome(11, True)), now=2.0)
    assert [type(event) for event in events] == [ItemFinished, ItemFinished]
    assert running.flight(None) is not None and running.flight(None).started == 2.0
    events = running.done(2)
    assert events == [StepsReturned(3, 5, STEPS[2:]), ChunkFinished(3, 5)]


def test_an_outcome_out_of_order_is_a_protocol_error() -> None:
    running = RunningChunk.start(CHUNK, now=1.0)
    with pytest.raises(FrameError, match="out of order"):
        running.receive((Outcome(11, True),), now=2.0)


def test_done_must_follow_every_outcome() -> None:
    running = RunningChunk.start(CHUNK, now=1.0)
    with pytest.raises(FrameError, match="after 0 outcomes"):
        running.done(4)


def test_a_death_fails_the_running_step_with_the_reason() -> None:
    running = RunningChunk.start(CHUNK, now=1.0)
    running.receive((Outcome(10, True),), now=2.0)
    events = running.died(77, -signal.SIGSEGV, Progress(5, 1, 2.0), None)
    failure = Outcome.failure(
        11, ErrorKind.TRANSIENT, "worker 77 died with SIGSEGV while running this item"
    )
    assert events == [
        ItemFinished(3, 5, failure),
        StepsReturned(3, 5, STEPS[2:]),
        ChunkFinished(3, 5),
    ]


def test_a_timeout_kill_names_the_limit() -> None:
    running = RunningChunk.start(CHUNK, now=1.0)
    events = running.died(77, -9, Progress(5, 0, 1.0), KillCause(timed_out_at=0, timeout=2.0))
    assert isinstance(events[0], ItemFinished)
    assert events[0].outcome.error == "timed out after 2 s; worker 77 was killed"


def test_limits_come_from_the_step_or_the_chunk() -> None:
    steps = (STEPS[0], Step(20, 2, OpKind.CALL, b"/x", handler="h", timeout=0.5))
    running = RunningChunk.start(Chunk(1, 1, steps, (None, None), 3.0), now=0.0)
    assert running.limits == [3.0, 0.5]
    assert running.earliest == [0.5, 0.5]
