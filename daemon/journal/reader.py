"""Streaming recovery scan: yields the records of every complete commit group, block by block,
then repairs or refuses the tail.

Each block is verified by its checksum first; only then does one msgpack ``Unpacker`` split it
into exactly the records its header counts. A commit group (one or more blocks, the last one
flagged) is all or nothing: its records are yielded only once all its blocks verified.

At the first bad block, or a group whose last block is missing, the scan looks for evidence
that durable records follow it:

- a later segment file (segments are only created once everything before them is durable), or
- a later valid block of a *later commit group* in the same segment (a group is only written
  after the previous group's fdatasync returned).

With evidence it raises :class:`JournalCorrupt` (a corrupt middle). Without, the bytes from the
start of the incomplete group on are a torn tail: they are copied under ``torn/``, the segment
is truncated to the end of the last complete group and fsynced. Valid blocks of the *same*
group after a hole are part of the torn tail: a crash in the middle of an unacknowledged
group's write may persist its pages in any order.

After a checkpoint (``after_lsn``) it reads only the header of segments the checkpoint covers
and verifies but never unpacks covered blocks of the segment where the checkpoint ends.
"""

from __future__ import annotations

import logging
import mmap
import os
import zlib
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any, Generic, TypeVar

import msgpack

from batchd.daemon.journal.errors import JournalCorrupt, UnsupportedJournalFormat
from batchd.daemon.journal.format import (
    BLOCK_HEADER,
    BLOCK_HEADER_SIZE,
    BLOCK_LAST,
    BLOCK_MAGIC,
    CRC_START,
    FORMAT_VERSION,
    HEADER_SIZE,
    MAX_PAYLOAD,
    READABLE_VERSIONS,
    HeaderError,
    PayloadError,
    SegmentHeader,
    decode_header,
    find_later_group,
)
from batchd.daemon.journal.segment import list_segments, repair_torn_tail
from batchd.daemon.journal.syscalls import JournalSyscalls

T = TypeVar("T")

BlockDecoder = Callable[[list[Any]], list[T]]
"""Turns the unpacked payloads of one block into records; raises PayloadError."""

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


@dataclass(frozen=True, slots=True)
class _GroupEnd:
    """Where the valid prefix of a segment ends."""

    end: int
    """End of the last complete group (where a torn tail is cut)."""
    next_lsn: int
    """LSN of the first record after the last complete group."""
    bad: int
    """Offset of the first bad or missing block (``end`` or later)."""


class JournalScan(Generic[T]):
    """Iterate once to stream the decoded records; then :attr:`result` says what was found.

    :meth:`blocks` yields one list of records per block (the fast way to consume a scan:
    ``itertools.chain.from_iterable``); iterating the scan itself yields single records.
    """

    def __init__(
        self,
        directory: Path,
        syscalls: JournalSyscalls,
        decode: BlockDecoder[T] | None,
        *,
        after_lsn: int = 0,
    ) -> None:
        """``decode`` turns each block's unpacked payloads into records; None yields payloads.
        Only records with an LSN above ``after_lsn`` are yielded (a checkpoint covers the rest).
        """
        self._directory = directory
        self._syscalls = syscalls
        self._decode = decode
        self._after_lsn = after_lsn
        self._result: ScanResult | None = None
        self._torn: Path | None = None

    @property
    def result(self) -> ScanResult:
        """The outcome; only available once iteration finished."""
        if self._result is None:
            raise RuntimeError("the journal scan has not finished")
        return self._result

    def __iter__(self) -> Iterator[T]:
        return chain.from_iterable(self.blocks())

    def blocks(self) -> Generator[list[T], None, None]:
        """Yield the records of every complete group, one list per block, then finish."""
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
            covered_to = None if is_last else self._covered_to(segments[index + 1][1])
            if covered_to is not None:
                first_lsn, size = self._skip(path, number, next_lsn)
                next_lsn = covered_to
            else:
                first_lsn, next_lsn, size = yield from self._segment(
                    path, number, next_lsn, is_last
                )
            next_segment = number + 1 if size else number
            if size:
                kept += 1
                total_bytes += size
                records += next_lsn - first_lsn
        next_lsn = self._check_end(next_lsn or 1, kept)
        self._result = ScanResult(
            next_lsn=next_lsn,
            next_segment=next_segment,
            segments=kept,
            bytes=total_bytes,
            records=records,
            torn=self._torn,
        )

    def _covered_to(self, following: Path) -> int | None:
        """The first LSN of the ``following`` segment when ``after_lsn`` covers every record
        before it (the segment before it can then be skipped), else None."""
        if not self._after_lsn:
            return None
        try:
            with following.open("rb") as file:
                first_lsn = decode_header(file.read(HEADER_SIZE)).first_lsn
        except (OSError, HeaderError):
            return None  # the full scan reports the damage where it belongs
        return first_lsn if first_lsn - 1 <= self._after_lsn else None

    def _skip(self, path: Path, number: int, expected_lsn: int | None) -> tuple[int, int]:
        """Check only the header of a segment a checkpoint covers; (first LSN, size)."""
        with path.open("rb") as file:
            size = os.fstat(file.fileno()).st_size
            data = file.read(HEADER_SIZE)
        header = self._header(memoryview(data), path, number, expected_lsn)
        return header.first_lsn, size

    def _check_end(self, next_lsn: int, kept: int) -> int:
        """The LSN to continue at: the journal must reach the checkpoint it starts after."""
        after = self._after_lsn
        if next_lsn > after:
            return next_lsn
        if kept:
            raise JournalCorrupt(
                f"the journal in {self._directory} ends before LSN {next_lsn}, but the "
                f"checkpoint it is replayed after covers records up to LSN {after}",
                self._directory,
                0,
            )
        return after + 1  # no segment left at all: continue after the checkpoint

    def _segment(
        self, path: Path, number: int, expected_lsn: int | None, is_last: bool
    ) -> Generator[list[T], None, tuple[int, int, int]]:
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
                    found = yield from self._groups(view, header.salt, header.first_lsn, path)
                    if found.end == size:
                        if is_last:
                            # Records the last run wrote but never synced are in the page
                            # cache only; the state recovered from them must survive power loss.
                            self._syscalls.fsync(file.fileno())
                        return header.first_lsn, found.next_lsn, size
                    self._refuse_corrupt_middle(
                        mapped, view, path, found, salt=header.salt, is_last=is_last
                    )
                    tail = bytes(view[found.end :])
                finally:
                    view.release()
        self._repair(path, found.end, tail)
        return header.first_lsn, found.next_lsn, found.end

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
        if expected_lsn is None and header.first_lsn > self._after_lsn + 1:
            raise JournalCorrupt(
                f"journal segment {path} is the oldest and starts at LSN {header.first_lsn}, "
                f"but records from LSN {self._after_lsn + 1} on are needed (no valid checkpoint "
                f"covers the deleted segments before it); records are lost",
                path,
                0,
            )
        return header

    def _groups(
        self, view: memoryview, salt: int, lsn: int, path: Path
    ) -> Generator[list[T], None, _GroupEnd]:
        """The hot loop: verify each group's blocks, then yield their decoded records."""
        decode = self._decode
        after = self._after_lsn
        unpack_header = BLOCK_HEADER.unpack_from
        crc32 = zlib.crc32
        size = len(view)
        last_start = size - BLOCK_HEADER_SIZE
        unpacker = msgpack.Unpacker(use_list=False, max_buffer_size=MAX_PAYLOAD)
        fed = 0
        pos = HEADER_SIZE
        while pos < size:
            group_pos = block_pos = pos
            group_lsn = block_lsn = lsn
            blocks: list[tuple[int, int, int, int]] = []
            while True:
                if block_pos > last_start:
                    return _GroupEnd(group_pos, group_lsn, block_pos)
                magic, crc, length, count, first_lsn, group_offset, flags = unpack_header(
                    view, block_pos
                )
                end = block_pos + BLOCK_HEADER_SIZE + length
                if (
                    magic != BLOCK_MAGIC
                    or end > size
                    or first_lsn != block_lsn
                    or group_offset != block_lsn - group_lsn
                    or length > MAX_PAYLOAD
                    or not 1 <= count <= length
                    or flags & ~BLOCK_LAST
                    or crc32(view[block_pos + CRC_START : end], salt) != crc
                ):
                    return _GroupEnd(group_pos, group_lsn, block_pos)
                blocks.append((block_pos, end, count, block_lsn))
                block_lsn += count
                block_pos = end
                if flags & BLOCK_LAST:
                    break
            for start, end, count, first_lsn in blocks:
                if first_lsn + count - 1 <= after:
                    continue  # a checkpoint covers it: verified above, never unpacked
                length = end - start - BLOCK_HEADER_SIZE
                unpacker.feed(view[start + BLOCK_HEADER_SIZE : end])
                fed += length
                try:
                    payloads = list(unpacker)
                    if len(payloads) != count or unpacker.tell() != fed:
                        used = unpacker.tell() - fed + length
                        raise ValueError(
                            f"{len(payloads)} whole records in {used} of {length} bytes, but "
                            f"the block header counts {count}"
                        )
                    records = payloads if decode is None else decode(payloads)
                except PayloadError as error:
                    kind = UnsupportedJournalFormat if error.unsupported else JournalCorrupt
                    raise kind(
                        f"journal segment {path}, block at byte offset {start}, record LSN "
                        f"{first_lsn + error.index}: {error}",
                        path,
                        start,
                    ) from None
                except (ValueError, TypeError, msgpack.UnpackException) as error:
                    raise JournalCorrupt(
                        f"journal segment {path}, block at byte offset {start} (records from "
                        f"LSN {first_lsn}) has a valid checksum but its payloads do not decode "
                        f"({error}); this is a batchd bug",
                        path,
                        start,
                    ) from None
                yield records if first_lsn > after else records[after - first_lsn + 1 :]
            pos, lsn = block_pos, block_lsn
        return _GroupEnd(pos, lsn, pos)

    def _refuse_corrupt_middle(
        self,
        mapped: mmap.mmap,
        view: memoryview,
        path: Path,
        found: _GroupEnd,
        *,
        salt: int,
        is_last: bool,
    ) -> None:
        """Raise JournalCorrupt if durable records follow the bad block of ``found``."""
        bad, lsn = found.bad, found.next_lsn
        where = (
            f"journal segment {path} is corrupt at byte offset {bad} (commit group from LSN {lsn})"
        )
        if not is_last:
            raise JournalCorrupt(
                f"{where}, but later segments exist, so it was complete: records after it "
                f"would be lost. Keep the journal directory {self._directory} for a salvage.",
                path,
                bad,
            )
        later = find_later_group(mapped, view, bad, salt, lsn)
        if later is not None:
            offset, later_lsn = later
            raise JournalCorrupt(
                f"{where}, but a valid block of a later commit (records from LSN {later_lsn}) "
                f"follows at byte offset {offset}: records after it would be lost. Keep the "
                f"journal directory {self._directory} for a salvage.",
                path,
                bad,
            )

    def _repair(self, path: Path, end: int, tail: bytes) -> None:
        """Set a torn tail aside, then cut the segment to its good end (remove it at 0)."""
        self._torn = repair_torn_tail(self._directory, path, end, tail, self._syscalls)
