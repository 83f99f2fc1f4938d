"""resume: an interrupted batch (automatic resume off) waits for resume, then finishes."""

from __future__ import annotations

from pathlib import Path

from running_daemon import RunningDaemon
from sample_plans import slow_batch

from batchd.protocol.batch_messages import BatchProgress, BatchState, ResumeRequest


def test_without_automatic_resume_a_crashed_batch_waits_for_resume(
    tmp_path: Path, daemon_factory: type[RunningDaemon]
) -> None:
    config = tmp_path / "batchd.toml"
    config.write_text("enable_checkpoint = false\n")
    daemon = daemon_factory(args=("--config", str(config)))
    daemon.start()
    batch = slow_batch(daemon, tmp_path, count=40)
    daemon.kill()
    daemon.start()
    interrupted = daemon.progress(batch)
    assert interrupted.state is BatchState.INTERRUPTED
    assert interrupted.completed < interrupted.total
    assert daemon.progress(batch).completed == interrupted.completed  # nothing runs
    resumed = daemon.request(ResumeRequest(batch), BatchProgress)
    assert resumed.state is BatchState.RUNNING
    final = daemon.wait_batch(batch)
    assert final.state is BatchState.COMPLETED and final.completed == 40
    assert all(p.read_bytes() == b"y\n" for p in (tmp_path / "data").iterdir())


def test_with_automatic_resume_a_crashed_batch_finishes_after_restart(
    daemon: RunningDaemon, tmp_path: Path
) -> None:
    batch = slow_batch(daemon, tmp_path, count=40)
    daemon.kill()
    daemon.start()
    final = daemon.wait_batch(batch)
    assert final.state is BatchState.COMPLETED and final.completed == 40
    assert all(p.read_bytes() == b"y\n" for p in (tmp_path / "data").iterdir())
