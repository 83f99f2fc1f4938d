"""Group commit, durability tracking, fsync failure, short writes, segments and counters."""

from __future__ import annotations

import errno
import os
import stat
import threading
from pathlib import Path
from typing import Any

import pytest

from batchd.daemon.journal import Journal, JournalWriteError
from batchd.daemon.journal.records import DaemonStarted, JournalRecord
from batchd.daemon.journal.segment import list_segments

RECORD = DaemonStarted(pid=1, time=2.0, version="0.1.0")


def reopen(directory: Path) -> list[JournalRecord]:
    journal, records = Journal.open(directory, list)
    journal.close()
    return records


def test_open_creates_a_private_directory_and_a_new_segment_every_time(tmp_path: Path) -> None:
    directory = tmp_path / "state" / "journal"
    for run in range(1, 4):
        journal, records = Journal.open(directory, list)
        assert len(records) == run - 1
        journal.append(RECORD)
        journal.close()
        assert [number for number, _ in list_segments(directory)] == list(range(1, run + 1))
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700


def test_leftover_temporary_segment_is_removed(tmp_path: Path) -> None:
    directory = tmp_path / "journal"
    Journal.open(directory, list)[0].close()
    leftover = directory / "seg-0000000000000002.journal.tmp"
    leftover.write_bytes(b"half a header")
    journal, _ = Journal.open(directory, list)
    journal.close()
    assert not leftover.exists()


def test_group_commit_shares_fsyncs_between_threads(tmp_path: Path, fake_syscalls: Any) -> None:
    syscalls = fake_syscalls()
    syscalls.latency = 0.001  # a disk whose flush takes a millisecond
    journal, _ = Journal.open(tmp_path / "journal", list, syscalls=syscalls)
    threads, per_thread = 8, 40
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        try:
            for i in range(per_thread):
                lsn = journal.append(DaemonStarted(pid=index, time=float(i), version="w"))
                journal.wait_durable(lsn)
                assert journal.durable_lsn >= lsn
        except BaseException as error:
            errors.append(error)

    workers = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(timeout=60)
    assert not errors and not any(thread.is_alive() for thread in workers)
    total = threads * per_thread
    counters = journal.counters()
    assert counters.durable_lsn == total and journal.pending == 0
    assert syscalls.fdatasyncs == counters.commits
    print(f"group commit: {counters.commits} fsyncs for {total} records")
    assert counters.commits <= total // 3, f"{counters.commits} fsyncs for {total} records"
    journal.close()
    records = reopen(tmp_path / "journal")
    assert sorted((r.pid, r.time) for r in records if isinstance(r, DaemonStarted)) == sorted(
        (n, float(i)) for n in range(threads) for i in range(per_thread)
    )


def test_nothing_is_durable_before_fdatasync_returns(tmp_path: Path, fake_syscalls: Any) -> None:
    syscalls = fake_syscalls()
    journal, _ = Journal.open(tmp_path / "journal", list, syscalls=syscalls)
    release = threading.Event()
    syscalls.block_fdatasync = release
    returned: list[int] = []

    def wait(lsn: int) -> None:
        journal.wait_durable(lsn)
        returned.append(lsn)

    first = journal.append(RECORD)
    leader = threading.Thread(target=wait, args=(first,))
    leader.start()
    assert syscalls.entered_fdatasync.wait(timeout=10)
    second = journal.append(RECORD)
    follower = threading.Thread(target=wait, args=(second,))
    follower.start()

    leader.join(timeout=0.2)
    assert leader.is_alive() and follower.is_alive() and returned == []
    assert journal.durable_lsn == first - 1
    assert journal.pending == 2

    release.set()
    leader.join(timeout=10)
    follower.join(timeout=10)
    assert sorted(returned) == [first, second]
    assert journal.durable_lsn == second and journal.pending == 0
    assert syscalls.fdatasyncs == 2  # the blocked group, then the follower's group
    journal.close()


def test_failed_fdatasync_is_fatal_and_never_retried(tmp_path: Path, fake_syscalls: Any) -> None:
    syscalls = fake_syscalls()
    journal, _ = Journal.open(tmp_path / "journal", list, syscalls=syscalls)
    durable = journal.append(RECORD)
    journal.commit()
    lost = journal.append(RECORD)
    syscalls.fail_fdatasync = OSError(errno.EIO, "Input/output error")
    with pytest.raises(JournalWriteError) as raised:
        journal.commit()
    assert raised.value.fatal and "never retried" in str(raised.value)
    calls = syscalls.fdatasyncs
    syscalls.fail_fdatasync = None
    with pytest.raises(JournalWriteError):
        journal.append(RECORD)
    with pytest.raises(JournalWriteError):
        journal.commit()
    with pytest.raises(JournalWriteError):
        journal.wait_durable(lost)
    journal.wait_durable(durable)  # what was durable stays durable
    assert syscalls.fdatasyncs == calls, "a failed fdatasync must not be retried"
    assert journal.durable_lsn == durable
    journal.close()
    assert reopen(tmp_path / "journal")[:1] == [RECORD]


def test_short_writes_are_completed(tmp_path: Path, fake_syscalls: Any) -> None:
    syscalls = fake_syscalls()
    syscalls.max_write = 7
    journal, _ = Journal.open(tmp_path / "journal", list, syscalls=syscalls)
    records = [DaemonStarted(pid=n, time=0.5, version="v") for n in range(20)]
    for record in records:
        journal.append(record)
    writes_before = syscalls.writes
    assert journal.commit() == 20
    assert syscalls.writes - writes_before > 20
    assert syscalls.fdatasyncs == 1
    journal.close()
    assert reopen(tmp_path / "journal") == records


def test_failed_write_is_cut_back_and_can_be_retried(tmp_path: Path, fake_syscalls: Any) -> None:
    syscalls = fake_syscalls()
    directory = tmp_path / "journal"
    journal, _ = Journal.open(directory, list, syscalls=syscalls)
    journal.append(RECORD)
    journal.commit()
    segment = list_segments(directory)[-1][1]
    good_size = segment.stat().st_size
    queued = [DaemonStarted(pid=n, time=1.0, version="v") for n in range(5)]
    for record in queued:
        journal.append(record)
    syscalls.fail_write = OSError(errno.ENOSPC, "No space left on device")
    syscalls.fail_write_after = 30  # the first write lands partly, the next one fails
    with pytest.raises(JournalWriteError) as raised:
        journal.commit()
    assert not raised.value.fatal
    assert segment.stat().st_size == good_size
    assert journal.pending == 5 and journal.durable_lsn == 1
    syscalls.fail_write = None
    assert journal.commit() == 6
    journal.close()
    assert reopen(directory) == [RECORD, *queued]


def test_segments_roll_at_the_size_limit(tmp_path: Path) -> None:
    directory = tmp_path / "journal"
    journal, _ = Journal.open(directory, list, segment_limit=400)
    for n in range(30):
        journal.append(DaemonStarted(pid=n, time=0.0, version="v"))
        journal.commit()
    counters = journal.counters()
    journal.close()
    sizes = [path.stat().st_size for _n, path in list_segments(directory)]
    assert counters.segments == len(sizes) > 3
    assert counters.bytes == sum(sizes)
    assert all(size < 400 + 100 for size in sizes)
    assert len(reopen(directory)) == 30


def test_counters_and_close(tmp_path: Path, fake_syscalls: Any) -> None:
    syscalls = fake_syscalls()
    directory = tmp_path / "journal"
    journal, _ = Journal.open(directory, list, syscalls=syscalls)
    for _ in range(3):
        journal.append(RECORD)
    assert journal.pending == 3
    assert journal.commit() == 3
    journal.append(RECORD)
    counters = journal.counters()
    assert (counters.durable_lsn, counters.records, counters.commits) == (3, 3, 1)
    assert counters.fsyncs == syscalls.fsyncs + syscalls.fdatasyncs
    journal.close()  # commits the queued record
    journal.close()
    with pytest.raises(JournalWriteError, match="closed"):
        journal.append(RECORD)
    with pytest.raises(ValueError, match="never appended"):
        journal.wait_durable(99)
    assert len(reopen(directory)) == 4
    assert os.listdir(directory)
