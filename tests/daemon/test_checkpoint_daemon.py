"""Checkpoints in a real daemon: the journal stays bounded over many batches, and a kill -9
(also in the middle of writing a checkpoint) still restarts to the right state."""

from __future__ import annotations

import os
import random
from pathlib import Path

from mixed_plan import files_and_dirs, mixed_plan
from polling import wait_until
from running_daemon import RunningDaemon
from sample_plans import plan_bytes
from trees import make_files, manifest

from batchd.daemon.journal import OsSyscalls
from batchd.daemon.journal.reader import JournalScan
from batchd.daemon.journal.segment import list_segments
from batchd.protocol.batch_messages import BatchState, UploadState

BATCHES = 100
ITEMS = 5
TRIALS = int(os.environ.get("BATCHD_TRIALS", "4"))


def _daemon(factory: type[RunningDaemon], root: Path) -> RunningDaemon:
    config = root / "batchd.toml"
    config.write_text("max_workers = 2\ncheckpoint_records = 60\ncheckpoint_interval = 0.2\n")
    return factory(root, args=("--config", str(config)))


def _segments(daemon: RunningDaemon) -> int:
    return len(list_segments(daemon.state_dir / "journal"))


def _checkpoints(daemon: RunningDaemon) -> list[Path]:
    return sorted((daemon.state_dir / "checkpoints").glob("checkpoint-*.bin"))


def _run_batches(daemon: RunningDaemon, data: Path, count: int) -> list[int]:
    plan = plan_bytes(*({"op": "checksum", "path": f"f{i}"} for i in range(ITEMS)))
    batches = []
    most_segments = 0
    for _ in range(count):
        status = daemon.submit(plan, data)
        assert status.state is UploadState.ACCEPTED and status.batch is not None
        final = daemon.wait_batch(status.batch, timeout=30)
        assert final.state is BatchState.COMPLETED and final.completed == ITEMS
        batches.append(status.batch)
        most_segments = max(most_segments, _segments(daemon))
    assert most_segments <= 4, most_segments
    return batches


def _assert_all_completed(daemon: RunningDaemon, batches: list[int]) -> None:
    for batch in batches:
        progress = daemon.progress(batch)
        assert progress.state is BatchState.COMPLETED, (batch, progress)
        assert (progress.completed, progress.total) == (ITEMS, ITEMS)


def test_hundred_batches_keep_the_journal_bounded_and_survive_kill_9(
    tmp_path: Path, daemon_factory: type[RunningDaemon]
) -> None:
    data = tmp_path / "data"
    make_files(data, {f"f{i}": f"content {i}\n".encode() for i in range(ITEMS)})
    daemon = _daemon(daemon_factory, tmp_path)
    daemon.start()
    batches = _run_batches(daemon, data, BATCHES)
    assert len(_checkpoints(daemon)) == 2
    daemon.kill()
    daemon.start()
    assert _segments(daemon) <= 4
    _assert_all_completed(daemon, batches)
    # A clean stop writes a checkpoint that covers everything: the next start replays nothing.
    assert daemon.stop() == 0
    newest = int(_checkpoints(daemon)[-1].name.split("-")[1].split(".")[0])
    scan = JournalScan(daemon.state_dir / "journal", OsSyscalls(), None, after_lsn=newest)
    assert list(scan) == []
    assert scan.result.next_lsn == newest + 1
    daemon.start()
    _assert_all_completed(daemon, batches[-3:])
    assert daemon.ping().last_stop_clean is True


def test_kill_9_while_writing_a_checkpoint_recovers(
    tmp_path: Path, daemon_factory: type[RunningDaemon]
) -> None:
    data = tmp_path / "data"
    make_files(data, {f"f{i}": f"content {i}\n".encode() for i in range(ITEMS)})
    daemon = _daemon(daemon_factory, tmp_path)
    daemon.start()
    batches = _run_batches(daemon, data, 12)
    daemon.kill()
    # What a crash in the middle of the next checkpoint leaves: a half-written temporary
    # file, or (disk damage after the rename) a newest checkpoint cut short.
    checkpoints = _checkpoints(daemon)
    assert len(checkpoints) == 2
    newest = checkpoints[-1]
    newest.with_name("checkpoint-99999999999999999999.bin.tmp").write_bytes(b"\x89BDC\r\n")
    newest.write_bytes(newest.read_bytes()[: len(newest.read_bytes()) // 2])
    daemon.start()
    _assert_all_completed(daemon, batches)
    assert "is unusable, trying an older one" in daemon.log()
    # The daemon goes on working and checkpointing over the damage.
    batches += _run_batches(daemon, data, 3)
    wait_until(lambda: newest not in _checkpoints(daemon), 10, what="the damaged one replaced")
    daemon.kill()
    daemon.start()
    _assert_all_completed(daemon, batches)


def test_kill_9_across_frequent_checkpoints_keeps_effects_exactly_once(
    tmp_path: Path, daemon_factory: type[RunningDaemon]
) -> None:
    # Non-idempotent transforms and renames: a checkpoint that lost an interrupted item's
    # expected pre-state would make it run twice (or never) after the restart.
    rng = random.Random(20261128)
    plan = mixed_plan(600, seed=3)
    body = plan_bytes(*plan.items)
    for trial in range(TRIALS):
        root = tmp_path / f"t{trial}"
        data = root / "data"
        plan.create(data)
        root.mkdir(exist_ok=True)
        daemon = _daemon(daemon_factory, root)
        daemon.start()
        status = daemon.submit(body, data)
        assert status.state is UploadState.ACCEPTED and status.batch is not None
        batch: int = status.batch
        for _ in range(2):
            target = rng.uniform(0.1, 0.9) * status.total

            def reached(
                running: RunningDaemon = daemon, batch: int = batch, at: float = target
            ) -> bool:
                return running.progress(batch).completed >= at

            wait_until(reached, timeout=60, interval=0.002)
            daemon.kill()
            daemon.start()
        final = daemon.wait_batch(batch, timeout=120)
        assert final.state is BatchState.COMPLETED and final.completed == status.total, final
        assert files_and_dirs(manifest(data)) == (plan.expected_files, plan.expected_dirs)
        assert _checkpoints(daemon), "the thresholds should have forced checkpoints"
        assert daemon.stop() == 0
        daemon.cleanup()
