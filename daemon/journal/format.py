"""On-disk layout of journal segments and blocks (docs/journal-format.md).

All integers are little-endian. A segment is a 36-byte header followed by blocks; each commit
group is written as one block (several above :data:`BLOCK_TARGET` bytes)::

    segment header                         block
    0   8s  SEGMENT_MAGIC                  0   4s  BLOCK_MAGIC
    8   u16 format version                 4   u32 crc32(bytes 8..end, seed = segment salt)
    10  u16 flags (0)                      8   u32 payload length n (<= MAX_PAYLOAD)
    12  u32 salt (random per segment)      12  u32 record count (>= 1, <= n)
    16  u64 segment number                 16  u64 LSN of the block's first record
    24  u64 first LSN of the segment       24  u32 records of its group before this block
    32  u32 crc32(bytes 0..32)             28  u32 flags (BLOCK_LAST: last block of its group)
                                           32  n bytes: the records' msgpack payloads, joined

The block checksum covers every block byte after itself, so one ``zlib.crc32`` call over one
contiguous slice verifies the header fields and every payload. Seeding it with the segment
salt makes a stale block left over from another segment fail verification.
"""

from __future__ import annotations

import mmap
import struct
import zlib
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import Final

FORMAT_VERSION: Final = 1
"""Format written by this build; bump it (and add a golden journal) on any layout change."""

READABLE_VERSIONS: Final = frozenset({1})
"""Format versions this build reads."""

SEGMENT_MAGIC: Final = b"\x89BDJ\r\n\x1a\n"
# 0xc1 is the one byte msgpack never uses as a type marker, so a payload rarely imitates it.
BLOCK_MAGIC: Final = b"\xc1BJB"

MAX_PAYLOAD: Final = 16 * 1024 * 1024
"""Largest record payload and largest block payload; a bigger length marks a bad block."""

BLOCK_TARGET: Final = 32 * 1024
"""A block takes records while its payload stays within this size (at least one record).

Small enough that a block's bytes stay in the CPU cache from the checksum through the copy
into the unpacker to the decoded records (measured: replay of 1 MiB blocks is ~30% slower)."""

BLOCK_LAST: Final = 1
"""Block flag: this block is the last one of its commit group."""

SEGMENT_HEADER: Final = struct.Struct("<8sHHIQQ")
SEGMENT_CRC: Final = struct.Struct("<I")
HEADER_SIZE: Final = SEGMENT_HEADER.size + SEGMENT_CRC.size

BLOCK_HEADER: Final = struct.Struct("<4sIIIQII")
BLOCK_BODY: Final = struct.Struct("<IIQII")
"""The checksummed part of a block header: length, count, first LSN, group offset, flags."""
BLOCK_HEADER_SIZE: Final = BLOCK_HEADER.size
CRC_START: Final = 8
"""Offset inside a block where the checksummed bytes begin."""

_MAGIC_AND_CRC: Final = struct.Struct("<4sI")


class HeaderError(ValueError):
    """A segment header that fails its checksum or its sanity checks."""


class PayloadError(ValueError):
    """A checksum-valid payload that is not a record this build knows.

    ``unsupported`` is True when the payload looks like a newer format (an unknown record
    type) rather than a malformed one; ``index`` is the record's position in its block.
    """

    def __init__(self, message: str, *, unsupported: bool, index: int = 0) -> None:
        super().__init__(message)
        self.unsupported = unsupported
        self.index = index


@dataclass(frozen=True, slots=True)
class SegmentHeader:
    """The decoded header of one segment file."""

    version: int
    salt: int
    number: int
    first_lsn: int


@dataclass(frozen=True, slots=True)
class Block:
    """One verified block (used by tests, tools and the corrupt-middle search)."""

    first_lsn: int
    count: int
    group_offset: int
    last: bool
    payload: bytes
    size: int

    @property
    def group_lsn(self) -> int:
        """LSN of the first record of the block's commit group."""
        return self.first_lsn - self.group_offset


def encode_header(number: int, salt: int, first_lsn: int, version: int = FORMAT_VERSION) -> bytes:
    """Encode a segment header with its checksum."""
    head = SEGMENT_HEADER.pack(SEGMENT_MAGIC, version, 0, salt, number, first_lsn)
    return head + SEGMENT_CRC.pack(zlib.crc32(head))


def decode_header(data: bytes | memoryview) -> SegmentHeader:
    """Decode and verify a segment header; raises HeaderError."""
    if len(data) < HEADER_SIZE:
        raise HeaderError(f"header is {len(data)} bytes, expected {HEADER_SIZE}")
    magic, version, flags, salt, number, first_lsn = SEGMENT_HEADER.unpack_from(data)
    (crc,) = SEGMENT_CRC.unpack_from(data, SEGMENT_HEADER.size)
    if magic != SEGMENT_MAGIC:
        raise HeaderError("not a batchd journal segment (bad magic)")
    if zlib.crc32(data[: SEGMENT_HEADER.size]) != crc:
        raise HeaderError("segment header checksum mismatch")
    if flags != 0:
        raise HeaderError(f"unknown header flags {flags:#x}")
    if first_lsn < 1:
        raise HeaderError("first LSN must be at least 1")
    return SegmentHeader(version=version, salt=salt, number=number, first_lsn=first_lsn)


def encode_block(
    payload: bytes, *, count: int, first_lsn: int, group_offset: int, last: bool, salt: int
) -> bytes:
    """Encode one block around ``payload``, the joined msgpack payloads of ``count`` records."""
    body = BLOCK_BODY.pack(len(payload), count, first_lsn, group_offset, BLOCK_LAST if last else 0)
    crc = zlib.crc32(payload, zlib.crc32(body, salt))
    return _MAGIC_AND_CRC.pack(BLOCK_MAGIC, crc) + body + payload


def encode_group(
    payloads: Sequence[bytes], first_lsn: int, salt: int, block_target: int = BLOCK_TARGET
) -> bytes:
    """Encode one commit group (at least one record) as blocks, joined for a single write.

    Each block takes the next records while its payload stays within ``block_target`` bytes,
    and always at least one record.
    """
    if not payloads:
        raise ValueError("a commit group holds at least one record")
    ends = list(accumulate(map(len, payloads)))
    if ends[-1] <= block_target:
        # The common case: the whole group is one block.
        return encode_block(
            b"".join(payloads),
            count=len(payloads),
            first_lsn=first_lsn,
            group_offset=0,
            last=True,
            salt=salt,
        )
    blocks: list[bytes] = []
    start = base = 0
    while start < len(payloads):
        stop = max(bisect_right(ends, base + block_target, lo=start), start + 1)
        last = stop == len(payloads)
        joined = b"".join(payloads[start:stop])
        blocks.append(
            encode_block(
                joined,
                count=stop - start,
                first_lsn=first_lsn + start,
                group_offset=start,
                last=last,
                salt=salt,
            )
        )
        start, base = stop, ends[stop - 1]
    return b"".join(blocks)


def decode_block(data: bytes | memoryview, offset: int, salt: int) -> Block | None:
    """Decode and verify the block at ``offset``; None when it is incomplete or invalid."""
    if offset < 0 or offset + BLOCK_HEADER_SIZE > len(data):
        return None
    magic, crc, length, count, first_lsn, group_offset, flags = BLOCK_HEADER.unpack_from(
        data, offset
    )
    end = offset + BLOCK_HEADER_SIZE + length
    if (
        magic != BLOCK_MAGIC
        or length > MAX_PAYLOAD
        or end > len(data)
        or not 1 <= count <= length
        or flags & ~BLOCK_LAST
        or group_offset > first_lsn - 1
    ):
        return None
    if zlib.crc32(data[offset + CRC_START : end], salt) != crc:
        return None
    return Block(
        first_lsn=first_lsn,
        count=count,
        group_offset=group_offset,
        last=bool(flags & BLOCK_LAST),
        payload=bytes(data[offset + BLOCK_HEADER_SIZE : end]),
        size=end - offset,
    )


def find_later_group(
    mapped: mmap.mmap, view: memoryview, start: int, salt: int, lsn: int
) -> tuple[int, int] | None:
    """The first valid block from ``start`` on whose commit group starts after ``lsn``.

    ``lsn`` is the first LSN of the group that could not be read whole. Returns (offset, first
    LSN of the block) or None. Candidates are found by searching for the block magic and
    verified by checksum, so a scan of a long garbage tail costs one ``find`` per candidate.
    """
    candidate = mapped.find(BLOCK_MAGIC, start)
    while candidate != -1:
        block = decode_block(view, candidate, salt)
        if block is not None and block.group_lsn > lsn:
            return candidate, block.first_lsn
        candidate = mapped.find(BLOCK_MAGIC, candidate + 1)
    return None
