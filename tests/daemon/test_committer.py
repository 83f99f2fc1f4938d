"""The committer thread: the loop keeps going while a group commit syncs."""

from __future__ import annotations

import errno
import os
import select
import threading
from pathlib import Path

import pytest
from polling import wait_until

from batchd.daemon.committer import BackgroundCommitter
from batchd.daemon.journal import Journal, JournalWriteError
from batchd.daemon.journal.records import DaemonStarted
from batchd.daemon.journal.recovery import recover


class GatedSyscalls:
    """Real writes; fdatasync waits for the test's go-ahead, or fails."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()
        self.fail: OSError | None = None

    def write(self, fd: int, data: bytes | memoryview) -> int:
        return os.write(fd, data)

    def fdatasync(self, fd: int) -> None:
        self.entered.set()
        assert self.gate.wait(30)
        if self.fail is not None:
            raise self.fail
        os.fdatasync(fd)

    def fsync(self, fd: int) -> None:
        os.fsync(fd)

    def ftruncate(self, fd: int, length: int) -> None:
        os.ftruncate(fd, length)


def _started(i: int) -> DaemonStarted:
    return DaemonStarted(pid=i, time=0.0, version="t")


def _readable(fd: int, timeout: float) -> bool:
    return bool(select.select([fd], [], [], timeout)[0])


def test_commits_in_the_background_and_wakes_the_loop(tmp_path: Path) -> None:
    syscalls = GatedSyscalls()
    journal, _ = Journal.open(tmp_path / "j", recover, syscalls=syscalls)
    committer = BackgroundCommitter(journal)
    committer.start()
    try:
        syscalls.gate.clear()
        syscalls.entered.clear()
        lsn = journal.append(_started(1))
        committer.kick()
        assert syscalls.entered.wait(10)
        # The commit is stuck in fdatasync: the loop can still append and is not blocked.
        later = journal.append(_started(2))
        assert journal.durable_lsn < lsn
        assert not _readable(committer.wake_fd, 0.05)
        syscalls.gate.set()
        assert _readable(committer.wake_fd, 10)
        committer.drain()
        wait_until(lambda: journal.durable_lsn >= lsn, 10)
        committer.kick()
        wait_until(lambda: journal.durable_lsn >= later, 10)
        assert committer.check() is None
    finally:
        committer.stop()
        journal.close()


def test_a_failed_fdatasync_is_raised_in_the_loop_and_stays_fatal(tmp_path: Path) -> None:
    syscalls = GatedSyscalls()
    journal, _ = Journal.open(tmp_path / "j", recover, syscalls=syscalls)
    committer = BackgroundCommitter(journal)
    committer.start()
    try:
        syscalls.fail = OSError(errno.EIO, "I/O error")
        journal.append(_started(1))
        committer.kick()
        assert _readable(committer.wake_fd, 10)
        with pytest.raises(JournalWriteError) as first:
            committer.check()
        assert first.value.fatal
        with pytest.raises(JournalWriteError):
            committer.check()
    finally:
        committer.stop()
