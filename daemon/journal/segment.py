"""Segment files: names, listing, atomic creation, and setting torn bytes aside.

A segment is created complete or not at all: its header is written to a temporary name,
fsynced, renamed into place and the directory fsynced. So a segment file with a final name
always starts with a whole header, and the existence of segment N+1 proves that segment N was
complete and durable when N+1 was made.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import time
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Final

from batchd.daemon.journal.format import HEADER_SIZE, HeaderError, decode_header, encode_header
from batchd.daemon.journal.syscalls import JournalSyscalls, fsync_dir, write_all

_log = logging.getLogger(__name__)

SEGMENT_SUFFIX: Final = ".journal"
TEMP_SUFFIX: Final = ".tmp"
TORN_DIR: Final = "torn"
"""Subdirectory of the journal directory that keeps the bytes cut off torn tails."""

_SEGMENT_NAME: Final = re.compile(r"^seg-(\d{16})\.journal$")


@dataclass(frozen=True, slots=True)
class OpenSegment:
    """A freshly created segment, open for appending."""

    path: Path
    number: int
    salt: int
    first_lsn: int
    fd: int
    size: int


def segment_name(number: int) -> str:
    """The file name of segment ``number``: ``seg-<16 decimal digits>.journal``."""
    return f"seg-{number:016d}{SEGMENT_SUFFIX}"


def list_segments(directory: Path) -> list[tuple[int, Path]]:
    """The segment files of a journal directory as (number, path), in number order."""
    found: list[tuple[int, Path]] = []
    with os.scandir(directory) as entries:
        for entry in entries:
            match = _SEGMENT_NAME.match(entry.name)
            if match and entry.is_file(follow_symlinks=False):
                found.append((int(match.group(1)), Path(entry.path)))
    found.sort()
    return found


def remove_temporaries(directory: Path, syscalls: JournalSyscalls) -> None:
    """Remove half-created segments (``*.journal.tmp``) left by a crash during creation."""
    removed = False
    for path in directory.glob(f"seg-*{SEGMENT_SUFFIX}{TEMP_SUFFIX}"):
        path.unlink()
        removed = True
    if removed:
        fsync_dir(syscalls, directory)


def create_segment(
    directory: Path, number: int, first_lsn: int, syscalls: JournalSyscalls
) -> OpenSegment:
    """Create segment ``number`` atomically and return it open for appending."""
    path = directory / segment_name(number)
    temp = path.with_name(path.name + TEMP_SUFFIX)
    salt = secrets.randbits(32)
    header = encode_header(number, salt, first_lsn)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC
    fd = os.open(temp, flags, 0o600)
    try:
        write_all(syscalls, fd, header)
        syscalls.fsync(fd)
        # Refuse to replace an existing segment: that would mean two writers or a numbering bug.
        os.link(temp, path)
        os.unlink(temp)
        fsync_dir(syscalls, directory)
    except BaseException:
        os.close(fd)
        temp.unlink(missing_ok=True)
        raise
    return OpenSegment(path, number, salt, first_lsn, fd, len(header))


def set_aside(
    directory: Path, segment: Path, offset: int, data: bytes | memoryview, syscalls: JournalSyscalls
) -> Path:
    """Save the bytes cut off a torn segment under ``torn/`` durably; returns the new file."""
    torn = directory / TORN_DIR
    if not torn.is_dir():
        torn.mkdir(mode=0o700)
        fsync_dir(syscalls, directory)
    target = torn / f"{segment.name}.at-{offset}.{time.time_ns()}"
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        write_all(syscalls, fd, bytes(data))
        syscalls.fsync(fd)
    finally:
        os.close(fd)
    fsync_dir(syscalls, torn)
    return target


def drop_segments_through(
    directory: Path, lsn: int, current: int, syscalls: JournalSyscalls
) -> tuple[int, int, int]:
    """Delete the oldest segments whose records all have an LSN <= ``lsn``, oldest first, never
    segment ``current`` or any after it; fsync the directory. Returns how many segments, bytes
    and records were deleted.

    A segment's last LSN is the next segment's first LSN - 1, read from that segment's header.
    Deleting oldest first keeps the remaining numbers consecutive even if a crash interrupts.
    """
    segments = [(number, path) for number, path in list_segments(directory) if number <= current]
    count = size = records = 0
    for (_, path), (_, following) in pairwise(segments):
        try:
            first = _first_lsn(path)
            next_first = _first_lsn(following)
        except (OSError, HeaderError):
            break  # leave anything odd in place for the next open to judge
        if next_first - 1 > lsn:
            break
        size += path.stat().st_size
        path.unlink()
        count += 1
        records += next_first - first
    if count:
        fsync_dir(syscalls, directory)
    return count, size, records


def _first_lsn(path: Path) -> int:
    with path.open("rb") as file:
        return decode_header(file.read(HEADER_SIZE)).first_lsn


def repair_torn_tail(
    directory: Path, path: Path, end: int, tail: bytes, syscalls: JournalSyscalls
) -> Path:
    """Set a torn tail aside, then cut the segment to its good end (remove it when the
    good end is 0); returns where the torn bytes were saved."""
    aside = set_aside(directory, path, end, tail, syscalls)
    if end == 0:
        path.unlink()
        fsync_dir(syscalls, directory)
    else:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            syscalls.ftruncate(fd, end)
            syscalls.fsync(fd)
        finally:
            os.close(fd)
    _log.warning(
        "journal segment %s had a torn tail of %d bytes at byte offset %d (normal after a "
        "crash); the bytes were saved to %s and the segment was truncated",
        path,
        len(tail),
        end,
        aside,
    )
    return aside
