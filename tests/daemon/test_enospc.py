"""Full filesystems, for real: size-limited tmpfs mounts (root; CI runs as root).

Data side: a batch whose copies fill the target pauses cleanly with the reason in its
progress, leaves no temp behind, and completes after space is freed and ``resume``.
Journal side: with the state directory full, nothing new starts, ``stats`` and progress say
why, and the batch continues by itself once space is freed; the journal reads back whole.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from polling import wait_until
from running_daemon import RunningDaemon
from tmpfs import mount_tmpfs, unmount

from batchd.protocol.batch_messages import BatchState, ResumeRequest, UploadState
from batchd.protocol.messages import StatsReply, StatsRequest

KIB = 1024


@pytest.fixture
def mounts(tmp_path: Path) -> Iterator[list[Path]]:
    mounted: list[Path] = []
    yield mounted
    for where in mounted:
        unmount(where)


def _mount(mounts: list[Path], where: Path, size: str) -> Path:
    mount_tmpfs(where, size)
    mounts.append(where)
    return where


def _fill(path: Path) -> int:
    """Write zeros to ``path`` until the filesystem is full; returns the bytes written."""
    written = 0
    with path.open("wb", buffering=0) as out:
        try:
            while True:
                written += out.write(b"\0" * (64 * KIB))
        except OSError:
            pass
    return written


def _temps(root: Path) -> list[str]:
    return [p.name for p in root.rglob(".batchd-tmp-*")]


def test_a_full_data_filesystem_pauses_the_batch_until_space_is_freed_and_resume(
    daemon: RunningDaemon, tmp_path: Path, mounts: list[Path]
) -> None:
    source = tmp_path / "src"
    source.mkdir()
    for i in range(24):
        (source / f"f{i:02d}").write_bytes(bytes([i]) * (100 * KIB))
    target = _mount(mounts, tmp_path / "tiny", "4m")
    filler = target / "filler"
    filler.write_bytes(b"\0" * (2600 * KIB))  # about 1.4 MiB left: room for ~13 of 24
    plan = "".join(
        json.dumps(
            {"op": "copy", "src": str(source / f"f{i:02d}"), "dst": str(target / f"f{i:02d}")}
        )
        + "\n"
        for i in range(24)
    ).encode()
    status = daemon.submit(plan, tmp_path)
    assert status.state is UploadState.ACCEPTED and status.batch is not None
    batch = status.batch
    paused = wait_until(
        lambda: (p := daemon.progress(batch)).state is BatchState.PAUSED and p.running == 0 and p,
        timeout=60,
        what="the batch pausing on the full disk",
    )
    assert "full disk" in paused.note and "space" in paused.note.lower(), paused.note
    assert paused.failed == 0 and 0 < paused.completed < 24
    assert _temps(target) == []  # nothing half-written is left
    for copy in target.glob("f[0-9]*"):  # every copy that exists is whole
        assert copy.read_bytes() == (source / copy.name).read_bytes()
    filler.unlink()
    daemon.request(ResumeRequest(batch), type(paused))
    final = daemon.wait_batch(batch, timeout=60)
    assert final.state is BatchState.COMPLETED and final.completed == 24, final
    assert final.note == ""
    for i in range(24):
        assert (target / f"f{i:02d}").read_bytes() == (source / f"f{i:02d}").read_bytes()


def test_a_full_state_filesystem_stalls_then_continues_and_the_journal_stays_whole(
    daemon_factory: type[RunningDaemon], tmp_path: Path, mounts: list[Path]
) -> None:
    config = tmp_path / "batchd.toml"
    # No undo store: only the journal (and results logs) write to the state directory, so
    # the journal is what meets the full disk (a full undo store pauses, as above).
    config.write_text("enable_rollback = false\n")
    daemon = daemon_factory(args=("--config", str(config)))
    root = _mount(mounts, daemon.state_dir, "16m")  # the state directory itself is the tmpfs
    daemon.start()
    data = tmp_path / "data"
    data.mkdir()
    for i in range(200):
        (data / f"f{i:03d}").write_text(f"file {i}\n")
    plan = "".join(
        json.dumps(
            {
                "op": "transform",
                "path": f"f{i:03d}",
                "command": ["sh", "-c", "sleep 0.05; tr a-z A-Z"],
            }
        )
        + "\n"
        for i in range(200)
    ).encode()
    status = daemon.submit(plan, data)
    assert status.state is UploadState.ACCEPTED and status.batch is not None
    batch = status.batch
    wait_until(lambda: daemon.progress(batch).completed >= 10, timeout=60, what="progress")
    filler = root / "filler"
    _fill(filler)
    stats = wait_until(
        lambda: (s := daemon.request(StatsRequest(), StatsReply)).journal.error and s,
        timeout=30,
        what="stats reporting the journal error",
    )
    assert "space" in stats.journal.error.lower(), stats.journal.error
    stalled = daemon.progress(batch)
    assert stalled.state is BatchState.RUNNING and stalled.note.startswith("stalled"), stalled
    assert daemon.progress(batch).completed <= stalled.completed + 2  # nothing new starts
    filler.unlink()
    final = daemon.wait_batch(batch, timeout=120)
    assert final.state is BatchState.COMPLETED and final.completed == 200, final
    assert daemon.request(StatsRequest(), StatsReply).journal.error == ""
    for i in range(200):
        assert (data / f"f{i:03d}").read_text() == f"FILE {i}\n"
    assert daemon.stop() == 0
    daemon.start()  # the journal reads back whole: no corruption, the same final state
    assert daemon.progress(batch).state is BatchState.COMPLETED
    assert "corrupt" not in daemon.log().lower()
    assert os.listdir(root / "journal")
