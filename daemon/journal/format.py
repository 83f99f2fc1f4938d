"""On-disk layout of journal segments and record frames (docs/journal-format.md).

All integers are little-endian. A segment is a 36-byte header followed by frames::

    segment header                         record frame
    0   8s  SEGMENT_MAGIC                  0   4s  FRAME_MAGIC
    8   u16 format version                 4   u32 crc32(bytes 8..end, seed = segment salt)
    10  u16 flags (0)                      8   u32 payload length (<= MAX_PAYLOAD)
    12  u32 salt (random per segment)      12  u32 index of the record in its commit group
    16  u64 segment number                  16  u64 LSN
    24  u64 first LSN of the segment       24  ... msgpack payload
    32  u32 crc32(bytes 0..32)

The frame checksum covers every frame byte after itself, so one ``zlib.crc32`` call over one
contiguous slice verifies length, group index, LSN and payload. Seeding it with the segment
salt makes a stale frame left over from another segment fail verification.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

FORMAT_VERSION: Final = 1
"""Format written by this build; bump it (and add a golden journal) on any layout change."""

READABLE_VERSIONS: Final = frozenset({1})
"""Format versions this build reads."""

SEGMENT_MAGIC: Final = b"\x89BDJ\r\n\x1a\n"
# 0xc1 is the one byte msgpack never uses as a type marker, so a payload rarely imitates it.
FRAME_MAGIC: Final = b"\xc1BJR"

MAX_PAYLOAD: Final = 16 * 1024 * 1024
"""Largest record payload; a bigger length field marks a bad frame without reading further."""

SEGMENT_HEADER: Final = struct.Struct("<8sHHIQQ")
SEGMENT_CRC: Final = struct.Struct("<I")
HEADER_SIZE: Final = SEGMENT_HEADER.size + SEGMENT_CRC.size

FRAME_HEADER: Final = struct.Struct("<4sIIIQ")
FRAME_BODY: Final = struct.Struct("<IIQ")
"""The checksummed part of a frame header: length, group index, LSN."""
FRAME_HEADER_SIZE: Final = FRAME_HEADER.size
CRC_START: Final = 8
"""Offset inside a frame where the checksummed bytes begin."""

_MAGIC_AND_CRC: Final = struct.Struct("<4sI")


class HeaderError(ValueError):
    """A segment header that fails its checksum or its sanity checks."""


class PayloadError(ValueError):
    """A checksum-valid payload that is not a record this build knows.

    ``unsupported`` is True when the payload looks like a newer format (an unknown record
    type) rather than a malformed one.
    """

    def __init__(self, message: str, *, unsupported: bool) -> None:
        super().__init__(message)
        self.unsupported = unsupported


@dataclass(frozen=True, slots=True)
class SegmentHeader:
    """The decoded header of one segment file."""

    version: int
    salt: int
    number: int
    first_lsn: int


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded record frame (used by tests and tools; the reader has its own hot loop)."""

    lsn: int
    group_index: int
    payload: bytes
    size: int


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


def encode_frame(payload: bytes, lsn: int, group_index: int, salt: int) -> bytes:
    """Encode one record frame."""
    body = FRAME_BODY.pack(len(payload), group_index, lsn)
    crc = zlib.crc32(payload, zlib.crc32(body, salt))
    return _MAGIC_AND_CRC.pack(FRAME_MAGIC, crc) + body + payload


def encode_group(payloads: Sequence[bytes], first_lsn: int, salt: int) -> bytes:
    """Encode the frames of one commit group, joined for a single write."""
    pack_body = FRAME_BODY.pack
    pack_head = _MAGIC_AND_CRC.pack
    crc32 = zlib.crc32
    parts: list[bytes] = []
    for index, payload in enumerate(payloads):
        body = pack_body(len(payload), index, first_lsn + index)
        parts += (pack_head(FRAME_MAGIC, crc32(payload, crc32(body, salt))), body, payload)
    return b"".join(parts)


def decode_frame(data: bytes | memoryview, offset: int, salt: int) -> Frame | None:
    """Decode and verify the frame at ``offset``; None when it is incomplete or invalid."""
    if offset < 0 or offset + FRAME_HEADER_SIZE > len(data):
        return None
    magic, crc, length, group_index, lsn = FRAME_HEADER.unpack_from(data, offset)
    end = offset + FRAME_HEADER_SIZE + length
    if magic != FRAME_MAGIC or length > MAX_PAYLOAD or end > len(data):
        return None
    if zlib.crc32(data[offset + CRC_START : end], salt) != crc:
        return None
    payload = bytes(data[offset + FRAME_HEADER_SIZE : end])
    return Frame(lsn=lsn, group_index=group_index, payload=payload, size=end - offset)
