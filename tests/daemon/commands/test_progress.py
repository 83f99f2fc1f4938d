"""progress: consistent fields at every sample of a running batch, and a live event stream."""

from __future__ import annotations

import json
import time
from pathlib import Path

from running_daemon import RunningDaemon
from trees import make_files

from batchd.client import Client
from batchd.protocol.batch_messages import TERMINAL_STATES, BatchState
from batchd.protocol.events import BatchProgressEvent


def _slow_plan(count: int, first_delay: float) -> bytes:
    items = [
        {"op": "transform", "path": f"f{i}", "command": ["sh", "-c", f"sleep {first_delay}; cat"]}
        for i in range(2)
    ]
    items += [
        {"op": "transform", "path": f"f{i}", "command": ["sh", "-c", "sleep 0.005; cat"]}
        for i in range(2, count)
    ]
    return b"".join(json.dumps(item).encode() + b"\n" for item in items)


def test_progress_fields_are_consistent_at_every_sample(
    daemon: RunningDaemon, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    make_files(data, {f"f{i}": b"x\n" for i in range(300)})
    status = daemon.submit(_slow_plan(300, 1.0), data)
    assert status.batch is not None, status.problems
    first = daemon.progress(status.batch)
    assert first.completed == 0 and first.eta is None  # both workers still on the slow items
    samples = [first]
    while samples[-1].state not in TERMINAL_STATES:
        samples.append(daemon.progress(status.batch))
    for sample in samples:
        assert sample.completed + sample.failed + sample.running + sample.pending == sample.total
        assert 0.0 <= sample.progress <= 1.0
        assert sample.progress == (sample.completed + sample.failed) / sample.total
        if sample.completed + sample.failed > 0:
            assert sample.eta is not None and sample.eta >= 0
    values = [s.progress for s in samples]
    assert values == sorted(values)
    assert samples[-1].state is BatchState.COMPLETED and samples[-1].progress == 1.0
    assert any(0 < s.progress < 1 and s.rate > 0 for s in samples)


def test_progress_events_stream_to_a_late_subscriber(daemon: RunningDaemon, tmp_path: Path) -> None:
    data = tmp_path / "data"
    make_files(data, {f"f{i}": b"x\n" for i in range(100)})
    status = daemon.submit(_slow_plan(100, 0.5), data)
    assert status.batch is not None
    with Client.connect(runtime_dir=str(daemon.runtime_dir), timeout=5.0) as client:
        started = time.monotonic()
        seen: list[BatchProgressEvent] = []
        for frame in client.events(topics=(f"batch.{status.batch}",), timeout=60):
            if isinstance(frame.event, BatchProgressEvent):
                seen.append(frame.event)
                if frame.event.progress.state in TERMINAL_STATES:
                    break
        assert seen, "no progress event"
        assert seen[0].progress.id == status.batch
        assert seen[-1].progress.state is BatchState.COMPLETED
        assert len(seen) >= 2
        assert time.monotonic() - started < 60
