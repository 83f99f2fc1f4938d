"""Streaming recovery scan: yields every valid record, then repairs or refuses the tail.

At the first bad frame the scan looks for evidence that durable records follow it:

- a later segment file (segments are only created once everything before them is durable), or
- a later valid frame of a *later commit group* in the same segment (a group is only written
  after the previous group's fdatasync returned).

With evidence it raises :class:`JournalCorrupt` (a corrupt middle). Without, the bad bytes are
a torn tail: they are copied under ``torn/``, the segment is truncated to its good end and
fsynced. Valid frames of the *same* group after a hole are part of the torn tail: a crash in
the middle of an unacknowledged group's write may persist its pages in any order.
"""

from __future__ import annotations

import logging
import mmap
import os
import zlib
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import msgpack

from batchd.daemon.journal.errors import JournalCorrupt, UnsupportedJournalFormat
from batchd.daemon.journal.format import (
    CRC_START,
    FORMAT_VERSION,
    FRAME_HEADER,
    FRAME_HEADER_SIZE,
    FRAME_MAGIC,
    HEADER_SIZE,
    MAX_PAYLOAD,
    READABLE_VERSIONS,
    HeaderError,
    PayloadError,
    SegmentHeader,
    decode_frame,
    decode_header,
)
from batchd.daemon.journal.segment import list_segments, set_aside
from batchd.daemon.journal.syscalls import JournalSyscalls, fsync_dir

T = TypeVar("T")

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ScanResult:
    """What a finished scan found: where to continue and what the journal holds."""

    next_lsn: int
    next_segment: int
    segments: int
    bytes: int
    records: int
    torn: Path | None
    """The file under ``torn/`` holding the bytes cut off a torn tail, if there was one."""


class JournalScan(Generic[T]):
    """Iterate once to stream the decoded records; then :attr:`result` says what was found."""

    def __init__(
        self, directory: Path, syscalls: JournalSyscalls, decode: Callable[[Any], T] | None
    ) -> None:
        """``decode`` turns each unpacked payload into a record; None yields the payloads."""
        self._directory = directory
        self._syscalls = syscalls
        self._decode = decode
        self._result: ScanResult | None = None
        self._torn: Path | None = None

    @property
    def result(self) -> ScanResult:
        """The outcome; only available once iteration finished."""
        if self._result is None:
            raise RuntimeError("the journal scan has not finished")
        return self._result

    def __iter__(self) -> Iterator[T]:
        return self._scan()

    def _scan(self) -> Generator[T, None, None]:
        segments = list_segments(self._directory)
        next_lsn: int | None = None
        next_segment = 1
        kept = total_bytes = records = 0
        for index, (number, path) in enumerate(segments):
            if index and number != segments[index - 1][0] + 1:
                raise JournalCorrupt(
                    f"journal segment {number - 1} is missing before {path}; records are lost",
                    path,
                    0,
                )
            is_last = index == len(segments) - 1
            first_lsn, next_lsn, size = yield from self._segment(path, number, next_lsn, is_last)
            next_segment = number + 1 if size else number
            if size:
                kept += 1
                total_bytes += size
                records += next_lsn - first_lsn
        self._result = ScanResult(
            next_lsn=next_lsn or 1,
            next_segment=next_segment,
            segments=kept,
            bytes=total_bytes,
            records=records,
            torn=self._torn,
        )

    def _segment(
        self, path: Path, number: int, expected_lsn: int | None, is_last: bool
    ) -> Generator[T, None, tuple[int, int, int]]:
        """Scan one segment; returns (first LSN, next LSN, size kept); size 0 = removed."""
        with path.open("rb") as file:
            size = os.fstat(file.fileno()).st_size
            if size < HEADER_SIZE:
                if not is_last:
                    raise JournalCorrupt(
                        f"journal segment {path} is only {size} bytes, shorter than its header",
                        path,
                        0,
                    )
                # Only a crash while the segment was being made can leave this (or a cut file).
                self._repair(path, 0, file.read())
                return expected_lsn or 1, expected_lsn or 1, 0
            with mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
                view = memoryview(mapped)
                try:
                    header = self._header(view, path, number, expected_lsn)
                    end, next_lsn = yield from self._frames(
                        view, header.salt, header.first_lsn, path
                    )
                    if end == size:
                        if is_last:
                            # Records the last run wrote but never synced are in the page
                            # cache only; the state recovered from them must survive power loss.
                            self._syscalls.fsync(file.fileno())
                        return header.first_lsn, next_lsn, size
                    self._refuse_corrupt_middle(
                        mapped, view, path, end, lsn=next_lsn, salt=header.salt, is_last=is_last
                    )
                    tail = bytes(view[end:])
                finally:
                    view.release()
        self._repair(path, end, tail)
        return header.first_lsn, next_lsn, end

    def _header(
        self, view: memoryview, path: Path, number: int, expected_lsn: int | None
    ) -> SegmentHeader:
        try:
            # A copy: an exception must not keep a slice of the mapping alive (BufferError).
            header = decode_header(bytes(view[:HEADER_SIZE]))
        except HeaderError as error:
            raise JournalCorrupt(
                f"journal segment {path} has a bad header at byte offset 0: {error}", path, 0
            ) from None
        if header.version not in READABLE_VERSIONS:
            raise UnsupportedJournalFormat(
                f"journal segment {path} uses format version {header.version}; this batchd "
                f"reads version {FORMAT_VERSION}: upgrade batchd",
                path,
                0,
            )
        if header.number != number:
            raise JournalCorrupt(
                f"journal segment {path} says it is segment {header.number}", path, 0
            )
        if expected_lsn is not None and header.first_lsn != expected_lsn:
            raise JournalCorrupt(
                f"journal segment {path} starts at LSN {header.first_lsn} but the previous "
                f"segment ends before LSN {expected_lsn}",
                path,
                0,
            )
        return header

    def _frames(
        self, view: memoryview, salt: int, lsn: int, path: Path
    ) -> Generator[T, None, tuple[int, int]]:
        """The hot loop: yield decoded records; returns (end of valid prefix, next LSN)."""
        decode = self._decode
        unpack_header = FRAME_HEADER.unpack_from
        unpackb = msgpack.unpackb
        crc32 = zlib.crc32
        size = len(view)
        last_start = size - FRAME_HEADER_SIZE
        pos = HEADER_SIZE
        while pos <= last_start:
            magic, crc, length, _group, frame_lsn = unpack_header(view, pos)
            end = pos + FRAME_HEADER_SIZE + length
            if (
                magic != FRAME_MAGIC
                or end > size
                or frame_lsn != lsn
                or length > MAX_PAYLOAD
                or crc32(view[pos + CRC_START : end], salt) != crc
            ):
                break
            try:
                record = unpackb(view[pos + FRAME_HEADER_SIZE : end])
                if decode is not None:
                    record = decode(record)
            except PayloadError as error:
                cls = UnsupportedJournalFormat if error.unsupported else JournalCorrupt
                raise cls(
                    f"journal segment {path}, record LSN {lsn} at byte offset {pos}: {error}",
                    path,
                    pos,
                ) from None
            except (ValueError, TypeError, msgpack.UnpackException) as error:
                raise JournalCorrupt(
                    f"journal segment {path}, record LSN {lsn} at byte offset {pos} has a valid "
                    f"checksum but its payload does not decode ({error}); this is a batchd bug",
                    path,
                    pos,
                ) from None
            yield record
            pos = end
            lsn += 1
        return pos, lsn

    def _refuse_corrupt_middle(
        self,
        mapped: mmap.mmap,
        view: memoryview,
        path: Path,
        bad: int,
        *,
        lsn: int,
        salt: int,
        is_last: bool,
    ) -> None:
        """Raise JournalCorrupt if durable records follow the bad frame at ``bad``."""
        if not is_last:
            raise JournalCorrupt(
                f"journal segment {path} is corrupt at byte offset {bad} (record LSN {lsn}), "
                f"but later segments exist, so it was complete: records after it would be "
                f"lost. Keep the journal directory {self._directory} for a salvage.",
                path,
                bad,
            )
        found = find_later_group(mapped, view, bad + 1, salt, lsn)
        if found is not None:
            offset, later_lsn = found
            raise JournalCorrupt(
                f"journal segment {path} is corrupt at byte offset {bad} (record LSN {lsn}), "
                f"but a valid record with LSN {later_lsn} of a later commit follows at byte "
                f"offset {offset}: records after it would be lost. Keep the journal directory "
                f"{self._directory} for a salvage.",
                path,
                bad,
            )

    def _repair(self, path: Path, end: int, tail: bytes) -> None:
        """Set a torn tail aside, then cut the segment to its good end (remove it at 0)."""
        aside = set_aside(self._directory, path, end, tail, self._syscalls)
        if end == 0:
            path.unlink()
            fsync_dir(self._syscalls, self._directory)
        else:
            fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
            try:
                self._syscalls.ftruncate(fd, end)
                self._syscalls.fsync(fd)
            finally:
                os.close(fd)
        self._torn = aside
        _log.warning(
            "journal segment %s had a torn tail of %d bytes at byte offset %d (normal after a "
            "crash); the bytes were saved to %s and the segment was truncated",
            path,
            len(tail),
            end,
            aside,
        )


def find_later_group(
    mapped: mmap.mmap, view: memoryview, start: int, salt: int, lsn: int
) -> tuple[int, int] | None:
    """The first valid frame from ``start`` on that belongs to a commit group after ``lsn``'s.

    Returns (offset, LSN) or None. Candidates are found by searching for the frame magic and
    verified by checksum, so a scan of a long garbage tail costs one ``find`` per candidate.
    """
    candidate = mapped.find(FRAME_MAGIC, start)
    while candidate != -1:
        frame = decode_frame(view, candidate, salt)
        if frame is not None and frame.lsn - frame.group_index > lsn:
            return candidate, frame.lsn
        candidate = mapped.find(FRAME_MAGIC, candidate + 1)
    return None
