"""The batch engine with a typed fake executor: intents before chunks, fair dispatch, control."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from step_lists import ListSteps

from batchd.daemon.batches.applier import EVENTS_PER_TURN
from batchd.daemon.batches.batch import Batch
from batchd.daemon.batches.engine import BatchEngine, EngineSettings
from batchd.daemon.batches.registry import BatchRegistry
from batchd.daemon.batches.uploads import Uploads
from batchd.daemon.journal import Journal
from batchd.daemon.journal.recovery import recover
from batchd.daemon.ops.step import Outcome
from batchd.daemon.pool.executor import (
    Chunk,
    ChunkFinished,
    ExecutorEvent,
    ItemFinished,
    WorkerInfo,
)
from batchd.protocol.batch_messages import BatchState
from batchd.protocol.events import Event


class FakeExecutor:
    """Takes up to ``slots`` chunks; the test decides when their steps finish."""

    def __init__(self, slots: int) -> None:
        self.slots = slots
        self.running: list[Chunk] = []
        self.submitted: list[Chunk] = []
        self.cancelled: list[int] = []
        self._events: list[ExecutorEvent] = []

    def capacity(self) -> int:
        return self.slots - len(self.running)

    def submit(self, chunk: Chunk) -> None:
        assert self.capacity() > 0
        self.running.append(chunk)
        self.submitted.append(chunk)

    def finish_all(self) -> None:
        for chunk in self.running:
            for step in chunk.steps:
                self._events.append(
                    ItemFinished(chunk.batch, chunk.chunk_id, Outcome(step.index, True))
                )
            self._events.append(ChunkFinished(chunk.batch, chunk.chunk_id))
        self.running = []

    def fds(self) -> list[int]:
        return []

    def collect(self, now: float) -> list[ExecutorEvent]:
        events, self._events = self._events, []
        return events

    def next_deadline(self) -> float | None:
        return None

    def cancel(self, batch: int) -> None:
        self.cancelled.append(batch)

    def workers(self) -> list[WorkerInfo]:
        return []

    def resize(self, size: int) -> None:
        self.slots = size

    def shutdown(self, grace: float) -> list[ExecutorEvent]:
        return []


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[BatchEngine, FakeExecutor, Journal]]:
    journal, _ = Journal.open(tmp_path / "journal", recover)
    uploads = Uploads(tmp_path)
    executor = FakeExecutor(slots=2)
    published: list[Event] = []
    engine = BatchEngine(
        registry=BatchRegistry(uploads.batches_dir),
        uploads=uploads,
        executor=executor,
        journal=journal,
        settings=EngineSettings(workers=2, item_timeout=10.0),
        publish=published.append,
    )
    yield engine, executor, journal
    journal.close()


def _add(engine: BatchEngine, batch_id: int, *levels: int, priority: int = 0) -> Batch:
    (engine.registry.directory(batch_id)).mkdir(parents=True)
    batch = Batch(batch_id, "t", ListSteps(levels), priority=priority, submitted_at=0.0, now=0.0)
    engine.registry.add(batch)
    return batch


def test_chunks_start_only_after_their_intents_are_durable(
    setup: tuple[BatchEngine, FakeExecutor, Journal],
) -> None:
    engine, executor, journal = setup
    _add(engine, 1, 8)
    engine.dispatch_ready(time.monotonic())
    assert journal.pending > 0  # the intents
    engine.start_staged()
    assert executor.submitted == []  # not durable yet: nothing may run
    journal.commit()
    engine.start_staged()
    assert len(executor.submitted) == 2
    assert sum(len(c.steps) for c in executor.submitted) <= 8


def test_cancel_drops_staged_chunks_and_the_batch_ends_cancelled(
    setup: tuple[BatchEngine, FakeExecutor, Journal],
) -> None:
    engine, executor, journal = setup
    batch = _add(engine, 1, 8)
    engine.dispatch_ready(time.monotonic())
    engine.cancel(batch, time.monotonic())
    journal.commit()
    engine.start_staged()
    assert executor.submitted == []
    assert batch.state is BatchState.CANCELLED and batch.ended is not None
    assert batch.skipped == 8 and executor.cancelled == [1]


def test_batches_share_the_workers_and_finish(
    setup: tuple[BatchEngine, FakeExecutor, Journal],
) -> None:
    engine, executor, journal = setup
    first, second = _add(engine, 1, 20), _add(engine, 2, 20)
    for _ in range(100):
        now = time.monotonic()
        engine.collect_outcomes(now)
        engine.dispatch_ready(now)
        journal.commit()
        engine.start_staged()
        executor.finish_all()
        if first.ended is not None and second.ended is not None:
            break
    assert first.state is BatchState.COMPLETED and second.state is BatchState.COMPLETED
    batches = [chunk.batch for chunk in executor.submitted]
    assert batches[:2] in ([1, 2], [2, 1])  # the first two chunks went to different batches


def test_a_turn_applies_a_bounded_slice_of_outcomes_and_asks_to_be_called_again(
    setup: tuple[BatchEngine, FakeExecutor, Journal],
) -> None:
    # A flood of outcomes is applied EVENTS_PER_TURN at a time, in order, so that the loop
    # gets back to its sockets between slices; meanwhile the engine's deadline is "now".
    engine, executor, journal = setup
    total = 3 * EVENTS_PER_TURN
    batch = _add(engine, 1, total)
    engine.settings = EngineSettings(workers=1, item_timeout=10.0)
    now = time.monotonic()
    while batch.pending_in_level():
        executor.slots = len(executor.running) + 1
        engine.dispatch_ready(now)
        journal.commit()
        engine.start_staged()
    executor.finish_all()
    applied = []
    for _ in range(10):
        engine.collect_outcomes(time.monotonic())
        applied.append(batch.completed)
        if batch.completed == total:
            break
        assert engine.next_deadline() == 0.0
    steps = [b - a for a, b in zip([0, *applied], applied, strict=False)]
    assert len(steps) >= 3 and all(0 < step <= EVENTS_PER_TURN for step in steps), steps
    assert batch.state is BatchState.COMPLETED
    assert engine.next_deadline() != 0.0
