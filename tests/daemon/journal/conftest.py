"""Shared fakes and helpers for the journal tests, handed out as fixtures."""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from batchd.daemon.journal.format import HEADER_SIZE, decode_block, decode_header, encode_group
from batchd.daemon.journal.records import (
    DaemonStarted,
    DaemonStopped,
    JournalRecord,
    encode_record,
)
from batchd.daemon.journal.segment import create_segment, list_segments
from batchd.daemon.journal.syscalls import write_all


class SimulatedCrash(BaseException):
    """Raised by a fake syscall to stop the journal mid-operation like a kill -9 would."""


class FakeSyscalls:
    """Real OS calls with hooks: count, skip syncing, block, fail, write short or crash."""

    def __init__(self, *, sync: bool = True) -> None:
        self.sync = sync
        self.fdatasyncs = 0
        self.fsyncs = 0
        self.writes = 0
        self.latency = 0.0
        self.block_fdatasync: threading.Event | None = None
        self.entered_fdatasync = threading.Event()
        self.fail_fdatasync: OSError | None = None
        self.crash_in_fdatasync = False
        self.max_write: int | None = None
        self.fail_write_after: int | None = None
        self.fail_write: OSError | None = None
        self.crash_after_bytes: int | None = None
        self._lock = threading.Lock()

    def write(self, fd: int, data: bytes | memoryview) -> int:
        self.writes += 1
        if self.crash_after_bytes is not None:
            os.write(fd, data[: self.crash_after_bytes])
            raise SimulatedCrash
        if self.fail_write is not None:
            if self.fail_write_after is None:
                raise self.fail_write
            limit, self.fail_write_after = self.fail_write_after, None
            return os.write(fd, data[:limit])
        if self.max_write is not None:
            data = data[: self.max_write]
        return os.write(fd, data)

    def fdatasync(self, fd: int) -> None:
        with self._lock:
            self.fdatasyncs += 1
        self.entered_fdatasync.set()
        if self.block_fdatasync is not None:
            assert self.block_fdatasync.wait(timeout=30), "test never released fdatasync"
        if self.crash_in_fdatasync:
            raise SimulatedCrash
        if self.fail_fdatasync is not None:
            raise self.fail_fdatasync
        if self.sync:
            os.fdatasync(fd)
        if self.latency:
            time.sleep(self.latency)  # a slower disk, not a wait for a condition

    def fsync(self, fd: int) -> None:
        self.fsyncs += 1
        if self.sync:
            os.fsync(fd)

    def ftruncate(self, fd: int, length: int) -> None:
        os.ftruncate(fd, length)


@dataclass(frozen=True)
class BlockInfo:
    """Where one valid block sits on disk and which records it holds."""

    segment: Path
    offset: int
    end: int
    first_lsn: int
    count: int
    group_lsn: int
    last: bool

    @property
    def next_lsn(self) -> int:
        """LSN after the block's last record."""
        return self.first_lsn + self.count


def read_blocks(directory: Path) -> list[BlockInfo]:
    """Every valid block of every segment, walked with the format functions only."""
    blocks: list[BlockInfo] = []
    for _number, path in list_segments(directory):
        data = path.read_bytes()
        header = decode_header(data)
        pos = HEADER_SIZE
        while (block := decode_block(data, pos, header.salt)) is not None:
            blocks.append(
                BlockInfo(
                    path,
                    pos,
                    pos + block.size,
                    block.first_lsn,
                    block.count,
                    block.group_lsn,
                    block.last,
                )
            )
            pos += block.size
    return blocks


def write_journal(
    directory: Path,
    runs: list[list[list[JournalRecord]]],
    *,
    block_target: int,
    segment_limit: int,
    syscalls: object,
) -> None:
    """Write a journal like the writer does (a segment per run, groups, rolling at the limit),
    but with a tiny block size so that commit groups span several blocks."""
    directory.mkdir(mode=0o700, exist_ok=True)
    number, lsn = 1, 1
    for run in runs:
        segment = create_segment(directory, number, lsn, syscalls)  # type: ignore[arg-type]
        size = segment.size
        for group in run:
            data = encode_group([encode_record(r) for r in group], lsn, segment.salt, block_target)
            write_all(syscalls, segment.fd, data)  # type: ignore[arg-type]
            lsn += len(group)
            size += len(data)
            if size >= segment_limit:
                os.close(segment.fd)
                number += 1
                segment = create_segment(directory, number, lsn, syscalls)  # type: ignore[arg-type]
                size = segment.size
        os.close(segment.fd)
        number += 1


def make_records(count: int, start: int = 0) -> list[JournalRecord]:
    """Distinct records of both types."""
    out: list[JournalRecord] = []
    for i in range(start, start + count):
        if i % 3 == 2:
            out.append(DaemonStopped(time=1_700_000_000.25 + i, clean=i % 2 == 0))
        else:
            out.append(DaemonStarted(pid=1000 + i, time=1_700_000_000.5 + i, version=f"0.{i}"))
    return out


def copy_journal(source: Path, target: Path) -> Path:
    """Copy a journal directory (segments only)."""
    target.mkdir(mode=0o700)
    for _number, path in list_segments(source):
        shutil.copyfile(path, target / path.name)
    return target


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll ``condition`` until it holds or the deadline passes."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met before the deadline")
        time.sleep(0.001)


@pytest.fixture
def fake_syscalls() -> Callable[..., FakeSyscalls]:
    """Factory of FakeSyscalls."""
    return FakeSyscalls


@pytest.fixture
def no_sync() -> FakeSyscalls:
    """Syscalls that skip the real fsyncs, for tests that reopen journals thousands of times."""
    return FakeSyscalls(sync=False)


@pytest.fixture
def crash_type() -> type[SimulatedCrash]:
    """The exception fakes raise to simulate a crash."""
    return SimulatedCrash


@pytest.fixture
def helpers() -> JournalTestHelpers:
    """Plain helper functions."""
    return JournalTestHelpers()


class JournalTestHelpers:
    """Helper functions bundled for the ``helpers`` fixture."""

    read_blocks = staticmethod(read_blocks)
    write_journal = staticmethod(write_journal)
    make_records = staticmethod(make_records)
    copy_journal = staticmethod(copy_journal)
    wait_until = staticmethod(wait_until)
    BlockInfo = BlockInfo
