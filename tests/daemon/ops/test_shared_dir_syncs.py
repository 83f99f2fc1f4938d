"""Directory fsyncs shared by the steps reported together (the worker's file system)."""

from __future__ import annotations

import os
from pathlib import Path

from batchd.daemon.ops.env import OpEnv
from batchd.daemon.ops.fs import FileSystem
from batchd.daemon.ops.runner import run_step
from batchd.daemon.ops.step import OpKind, Step
from batchd.daemon.ops.undo import UndoStore


def _moves(tmp_path: Path, count: int) -> list[Step]:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    steps = []
    for i in range(count):
        (tmp_path / "a" / f"f{i}").write_bytes(b"x")
        src, dst = os.fsencode(tmp_path / "a" / f"f{i}"), os.fsencode(tmp_path / "b" / f"f{i}")
        steps.append(Step(i, i + 1, OpKind.MOVE, src, dst))
    return steps


def _fsyncs(tmp_path: Path, *, shared: bool, count: int = 50) -> tuple[int, FileSystem]:
    calls: list[str] = []
    fs = FileSystem(lambda name, *paths: calls.append(name), share_dir_syncs=shared)
    env = OpEnv(fs=fs, undo=UndoStore(tmp_path / "undo", fs), batch=1)
    for step in _moves(tmp_path, count):
        assert run_step(step, env).ok
    before_sync = calls.count("fsync")
    fs.sync_pending()
    return calls.count("fsync") - before_sync, fs


def test_each_directory_is_synced_once_for_all_steps_reported_together(tmp_path: Path) -> None:
    synced_at_report, _ = _fsyncs(tmp_path, shared=True)
    assert synced_at_report == 2  # the source and the destination directory, once each


def test_without_sharing_every_step_syncs_its_own_directories(tmp_path: Path) -> None:
    synced_at_report, _ = _fsyncs(tmp_path, shared=False, count=10)
    assert synced_at_report == 0  # nothing was left pending: each move synced as it went


def test_a_directory_moved_away_later_is_skipped(tmp_path: Path) -> None:
    fs = FileSystem(share_dir_syncs=True)
    gone = tmp_path / "gone"
    gone.mkdir()
    fs.fsync_parent_before_report(os.fsencode(gone / "name"))
    gone.rmdir()
    fs.sync_pending()  # no error: the step that removed it synced its parent
