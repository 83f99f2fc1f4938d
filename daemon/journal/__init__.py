"""The append-only, checksummed, group-committed journal (docs/journal-format.md).

Usage::

    journal, history = Journal.open(state_dir / "journal", recover)
    lsn = journal.append(DaemonStarted(pid=os.getpid(), time=time.time(), version=VERSION))
    journal.wait_durable(lsn)

``Journal.open`` streams every valid record into a pure fold, repairs a torn tail, refuses a
corrupt middle with :class:`JournalCorrupt`, and then starts a new segment. Opened after a
checkpoint (``after_lsn``) it streams only the records the checkpoint does not cover. Once the
checkpoint is durable, :meth:`Journal.rotate` and :meth:`Journal.drop_segments_through` let
the caller delete the segments it covers (docs/journal-format.md, "Checkpoints").
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from types import TracebackType
from typing import Final, TypeVar

from batchd.daemon.journal.errors import (
    JournalCorrupt,
    JournalError,
    JournalWriteError,
    UnsupportedJournalFormat,
)
from batchd.daemon.journal.format import FORMAT_VERSION
from batchd.daemon.journal.reader import JournalScan, ScanResult
from batchd.daemon.journal.records import JournalRecord, decode_records, encode_record
from batchd.daemon.journal.segment import (
    create_segment,
    drop_segments_through,
    remove_temporaries,
)
from batchd.daemon.journal.syscalls import (
    CountingSyscalls,
    JournalSyscalls,
    OsSyscalls,
    fsync_dir,
)
from batchd.daemon.journal.writer import GroupCommitWriter

__all__ = [
    "DEFAULT_SEGMENT_LIMIT",
    "FORMAT_VERSION",
    "Journal",
    "JournalCorrupt",
    "JournalCounters",
    "JournalError",
    "JournalSyscalls",
    "JournalWriteError",
    "OsSyscalls",
    "UnsupportedJournalFormat",
]

S = TypeVar("S")

DEFAULT_SEGMENT_LIMIT: Final = 64 * 1024 * 1024
"""A segment that reaches this size is closed and the journal continues in a new one."""


@dataclass(frozen=True, slots=True)
class JournalCounters:
    """A snapshot of the journal's counters.

    ``segments`` and ``bytes`` describe the segment files on disk (durable bytes only);
    ``records`` counts durable records in them (replayed plus committed since open);
    ``commits`` counts group commits and ``fsyncs`` every fsync/fdatasync the journal made
    since open (group commits, new segments, directories, torn-tail repair).
    """

    segments: int
    bytes: int
    durable_lsn: int
    records: int
    commits: int
    fsyncs: int


class Journal:
    """The daemon's journal: open it with :meth:`open`, then append, commit and wait."""

    def __init__(
        self,
        directory: Path,
        writer: GroupCommitWriter,
        syscalls: CountingSyscalls,
        replayed: ScanResult,
        on_append: Callable[[JournalRecord], None] | None = None,
    ) -> None:
        """Internal: use :meth:`open`."""
        self._directory = directory
        self._writer = writer
        self._syscalls = syscalls
        self._replayed = replayed
        self._on_append = on_append
        self._append_lock = threading.Lock()
        self._dropped_segments = 0
        self._dropped_bytes = 0
        self._dropped_records = 0

    @classmethod
    def open(
        cls,
        directory: Path,
        fold: Callable[[Iterable[JournalRecord]], S],
        *,
        after_lsn: int = 0,
        segment_limit: int = DEFAULT_SEGMENT_LIMIT,
        syscalls: JournalSyscalls | None = None,
        on_append: Callable[[JournalRecord], None] | None = None,
    ) -> tuple[Journal, S]:
        """Recover the journal in ``directory`` through ``fold`` and open a new segment.

        Only records with an LSN above ``after_lsn`` (what a checkpoint covers) reach the
        fold; segments holding none of them are not read beyond their header. ``on_append``
        sees every record appended from then on, in LSN order (to keep a fold up to date).
        Creates the directory (mode 0700) if missing. Raises :class:`JournalCorrupt` for
        damage that is not a torn tail, for a gap between ``after_lsn`` and the oldest segment,
        and :class:`UnsupportedJournalFormat` for a newer format.
        """
        counting = CountingSyscalls(syscalls if syscalls is not None else OsSyscalls())
        if not directory.is_dir():
            directory.mkdir(mode=0o700, parents=True)
            fsync_dir(counting, directory.parent)
        remove_temporaries(directory, counting)
        scan = JournalScan(directory, counting, decode_records, after_lsn=after_lsn)
        blocks = scan.blocks()
        records = chain.from_iterable(blocks)
        try:
            state = fold(records)
            # A fold may stop early; the rest must still be verified and the tail repaired.
            for _ in blocks:
                pass
        finally:
            blocks.close()
        found = scan.result
        segment = create_segment(directory, found.next_segment, found.next_lsn, counting)
        writer = GroupCommitWriter(directory, segment, counting, segment_limit)
        journal = cls(directory, writer, counting, found, on_append)
        return journal, state

    @property
    def directory(self) -> Path:
        """The journal directory."""
        return self._directory

    @property
    def durable_lsn(self) -> int:
        """The highest LSN known to be on disk."""
        return self._writer.durable_lsn

    @property
    def appended_lsn(self) -> int:
        """The LSN of the last record appended, durable or not."""
        return self._writer.appended_lsn

    @property
    def pending(self) -> int:
        """How many appended records are not durable yet."""
        return self._writer.pending

    def append(self, record: JournalRecord) -> int:
        """Queue a record (thread-safe, no I/O); returns its LSN."""
        payload = encode_record(record)
        if self._on_append is None:
            return self._writer.append(payload)
        with self._append_lock:
            lsn = self._writer.append(payload)
            self._on_append(record)
        return lsn

    def holding_appends(self) -> AbstractContextManager[object]:
        """Hold back appends from other threads, e.g. to snapshot what ``on_append`` folded
        at exactly the durable LSN (appends from the holding thread would deadlock)."""
        return self._append_lock

    def rotate(self) -> int:
        """Commit everything appended and continue in a new segment, so that every record so
        far lies in closed segments; returns the durable LSN. A segment holding no record
        yet is kept as the current one. Raises JournalWriteError."""
        self._writer.rotate()
        return self._writer.durable_lsn

    def drop_segments_through(self, lsn: int) -> int:
        """Delete the oldest segments whose records all have an LSN <= ``lsn`` (never the current
        one), then fsync the directory; returns how many were deleted. Only call this once a
        durable checkpoint covers ``lsn``."""
        count, size, records = drop_segments_through(
            self._directory, lsn, self._writer.current_segment, self._syscalls
        )
        self._dropped_segments += count
        self._dropped_bytes += size
        self._dropped_records += records
        return count

    def commit(self) -> int:
        """Make every record appended so far durable (one write, one fdatasync); returns the
        durable LSN. Raises JournalWriteError."""
        return self._writer.commit()

    def wait_durable(self, lsn: int) -> None:
        """Block until ``lsn`` is durable, leading the group commit if no one else is."""
        self._writer.wait_durable(lsn)

    def counters(self) -> JournalCounters:
        """A snapshot of the counters."""
        writer = self._writer
        return JournalCounters(
            segments=self._replayed.segments + writer.segments_created - self._dropped_segments,
            bytes=self._replayed.bytes
            + writer.bytes_in_earlier_segments
            + writer.current_end
            - self._dropped_bytes,
            durable_lsn=writer.durable_lsn,
            records=self._replayed.records + writer.records_written - self._dropped_records,
            commits=writer.commits,
            fsyncs=self._syscalls.fsyncs,
        )

    def close(self) -> None:
        """Commit what is still queued and close the journal; idempotent."""
        self._writer.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
