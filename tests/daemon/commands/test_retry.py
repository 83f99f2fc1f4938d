"""retry: the failed items of a failed batch run again; completed ones are left alone."""

from __future__ import annotations

import json
from pathlib import Path

from running_daemon import RunningDaemon
from trees import make_files

from batchd.protocol.batch_messages import BatchProgress, BatchState, RetryRequest


def test_retry_reruns_only_the_failed_items(daemon: RunningDaemon, tmp_path: Path) -> None:
    data = tmp_path / "data"
    make_files(data, {"good": b"g\n", "later": b"l\n"})
    gate = tmp_path / "gate"
    # Fails (permanently: a non-zero exit) until the gate file exists.
    command = ["sh", "-c", f"test -e {gate} && cat"]
    plan = b"".join(
        json.dumps(item).encode() + b"\n"
        for item in (
            {"op": "transform", "path": "good", "command": ["tr", "a-z", "A-Z"]},
            {"op": "transform", "path": "later", "command": command},
        )
    )
    status = daemon.submit(plan, data)
    assert status.batch is not None, status.problems
    first = daemon.wait_batch(status.batch)
    assert (first.state, first.completed, first.failed) == (BatchState.FAILED, 1, 1)
    gate.touch()
    again = daemon.request(RetryRequest(status.batch), BatchProgress)
    assert again.state is BatchState.RUNNING and again.failed == 0
    final = daemon.wait_batch(status.batch)
    assert (final.state, final.completed, final.failed) == (BatchState.COMPLETED, 2, 0)
    assert (data / "good").read_bytes() == b"G\n"  # transformed once, not twice
