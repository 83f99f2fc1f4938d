"""cancel: running items finish, the rest are skipped, the batch ends cancelled."""

from __future__ import annotations

from pathlib import Path

import pytest
from running_daemon import RunningDaemon
from sample_plans import slow_batch

from batchd.protocol.batch_messages import BatchProgress, BatchState, CancelRequest
from batchd.protocol.errors import InvalidArguments


def test_cancel_skips_what_has_not_started(daemon: RunningDaemon, tmp_path: Path) -> None:
    batch = slow_batch(daemon, tmp_path, count=60)
    cancelled = daemon.request(CancelRequest(batch), BatchProgress)
    assert cancelled.state is BatchState.CANCELLED
    final = daemon.wait_batch(batch)
    assert final.state is BatchState.CANCELLED
    assert final.running == 0 and final.finished_at is not None
    assert final.completed < final.total
    untouched = [p for p in (tmp_path / "data").iterdir() if p.read_bytes() == b"x\n"]
    assert len(untouched) == final.total - final.completed
    with pytest.raises(InvalidArguments, match="already ended"):
        daemon.request(CancelRequest(batch), BatchProgress)
