"""pause and resume: a paused batch starts nothing new, and finishes after resume."""

from __future__ import annotations

from pathlib import Path

import pytest
from polling import wait_until
from running_daemon import RunningDaemon
from sample_plans import slow_batch

from batchd.protocol.batch_messages import (
    BatchProgress,
    BatchState,
    PauseRequest,
    ResumeRequest,
)
from batchd.protocol.errors import BatchNotFound, InvalidArguments


def test_pause_stops_new_items_and_resume_finishes_the_batch(
    daemon: RunningDaemon, tmp_path: Path
) -> None:
    batch = slow_batch(daemon, tmp_path)
    paused = daemon.request(PauseRequest(batch), BatchProgress)
    assert paused.state is BatchState.PAUSED
    settled = wait_until(
        lambda: (p := daemon.progress(batch)).running == 0 and p, what="running items to finish"
    )
    assert settled.completed < settled.total
    assert daemon.progress(batch).completed == settled.completed  # nothing new starts
    with pytest.raises(InvalidArguments, match="not running"):
        daemon.request(PauseRequest(batch), BatchProgress)
    resumed = daemon.request(ResumeRequest(batch), BatchProgress)
    assert resumed.state is BatchState.RUNNING
    final = daemon.wait_batch(batch)
    assert final.state is BatchState.COMPLETED and final.completed == final.total


def test_pause_of_an_unknown_batch_names_it(daemon: RunningDaemon) -> None:
    with pytest.raises(BatchNotFound, match="no batch with id 999"):
        daemon.request(PauseRequest(999), BatchProgress)
