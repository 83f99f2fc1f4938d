"""kill -9 at random instants: after restart every batch resumes and every item's effect
happened exactly once (transforms here are not idempotent: a second run would show); then
the batch is rolled back (a third of the trials are killed during the rollback too) and the
tree is the original again, mtimes included.

CI runs a sample of trials; ``make stress`` (BATCHD_STRESS=1) runs many more.
"""

from __future__ import annotations

import json
import os
import random
import signal
from pathlib import Path

import psutil
import pytest
from mixed_plan import files_and_dirs, mixed_plan
from polling import wait_until
from running_daemon import RunningDaemon
from trees import make_files, manifest

from batchd.protocol.batch_messages import BatchState, UploadState
from batchd.protocol.rollback_messages import RollbackReply, RollbackRequest

STRESS = os.environ.get("BATCHD_STRESS") == "1"
TRIALS = 400 if STRESS else int(os.environ.get("BATCHD_TRIALS", "50"))
ITEMS = 2_000


def _plan(items: list[dict[str, object]]) -> bytes:
    return b"".join(json.dumps(item).encode() + b"\n" for item in items)


@pytest.mark.slow
@pytest.mark.timeout(1800)  # ~5 s a trial (forward, kills, rollback) on 2 busy cores
def test_random_kill_9_of_the_daemon_resumes_to_the_oracle_tree(
    tmp_path: Path, daemon_factory: type[RunningDaemon]
) -> None:
    rng = random.Random(20261127)
    plan = mixed_plan(ITEMS, seed=1)
    plan_bytes = _plan(plan.items)
    for trial in range(TRIALS):
        root = tmp_path / f"t{trial}"
        data = root / "data"
        plan.create(data)
        original = manifest(data, with_mtime=True)
        daemon = daemon_factory(root)
        daemon.start()
        status = daemon.submit(plan_bytes, data)
        assert status.state is UploadState.ACCEPTED and status.batch is not None
        # Kill somewhere between "just accepted" and "nearly done".
        kills = 1 if trial % 5 else 2  # every fifth trial also dies once more after restart
        for _ in range(kills):
            target = rng.uniform(0.0, 0.9) * status.total
            batch: int = status.batch

            def reached(
                running: RunningDaemon = daemon, batch: int = batch, at: float = target
            ) -> bool:
                return running.progress(batch).completed >= at

            wait_until(reached, timeout=60, interval=0.002)
            daemon.kill()
            daemon.start()
        final = daemon.wait_batch(status.batch, timeout=120)
        assert final.state is BatchState.COMPLETED, (trial, final)
        assert final.completed == status.total
        actual = files_and_dirs(manifest(data))
        assert actual == (plan.expected_files, plan.expected_dirs), f"trial {trial}"
        _roll_back(daemon, status.batch, kill_at=rng.uniform(0.0, 0.9) if trial % 3 == 0 else None)
        assert manifest(data, with_mtime=True) == original, f"trial {trial} after rollback"
        assert daemon.stop() == 0
        daemon.cleanup()


def test_worker_killed_mid_item_is_reconciled_and_completed_once(
    daemon: RunningDaemon, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    make_files(data, {f"f{i}": b"line\n" for i in range(30)})
    # Non-idempotent and slow enough to be caught in the middle.
    command = ["sh", "-c", "sleep 0.2; sed s/^/X/"]
    items = [{"op": "transform", "path": f"f{i}", "command": command} for i in range(30)]
    status = daemon.submit(_plan(items), data)
    assert status.batch is not None
    assert daemon.process is not None
    parent = psutil.Process(daemon.process.pid)
    killed: set[int] = set()
    for _ in range(3):
        worker = wait_until(lambda: _busy_worker(parent, killed), timeout=30, interval=0.01)
        worker.send_signal(signal.SIGKILL)
        killed.add(worker.pid)
    final = daemon.wait_batch(status.batch, timeout=120)
    assert final.state is BatchState.COMPLETED and final.failed == 0
    assert final.retried >= 1
    for i in range(30):
        assert (data / f"f{i}").read_bytes() == b"Xline\n", f"f{i}"
    assert len(killed) == 3


def _busy_worker(daemon: psutil.Process, killed: set[int]) -> psutil.Process | None:
    """A worker of the daemon that is running a transform command right now."""
    for worker in daemon.children():
        try:
            if worker.pid not in killed and worker.children():
                return worker
        except psutil.NoSuchProcess:
            continue
    return None


def _roll_back(daemon: RunningDaemon, batch: int, *, kill_at: float | None) -> None:
    """Roll ``batch`` back, killing the daemon once at ``kill_at`` (a fraction) of it."""
    reply = daemon.request(RollbackRequest(batches=(batch,)), RollbackReply)
    assert reply.rollback is not None
    rollback: int = reply.rollback
    if kill_at is not None:
        wait_until(
            lambda: daemon.progress(rollback).completed >= kill_at * reply.actions,
            timeout=60,
            interval=0.002,
        )
        daemon.kill()
        daemon.start()
    final = daemon.wait_batch(rollback, timeout=120)
    shown = daemon.batchctl("show", "--failed", str(rollback)).stdout
    assert final.state is BatchState.COMPLETED, (final, shown)
    assert daemon.progress(batch).state is BatchState.ROLLED_BACK
