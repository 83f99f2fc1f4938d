"""Segment header and frame encoding: layout, checksums, round trips."""

from __future__ import annotations

import struct
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from batchd.daemon.journal.format import (
    FORMAT_VERSION,
    FRAME_HEADER_SIZE,
    FRAME_MAGIC,
    HEADER_SIZE,
    MAX_PAYLOAD,
    SEGMENT_MAGIC,
    HeaderError,
    decode_frame,
    decode_header,
    encode_frame,
    encode_group,
    encode_header,
)

U32 = st.integers(0, 2**32 - 1)
U64 = st.integers(1, 2**64 - 1)


def test_header_layout_matches_the_documented_offsets() -> None:
    header = encode_header(number=7, salt=0xA1B2C3D4, first_lsn=99)
    assert len(header) == HEADER_SIZE == 36
    assert header[0:8] == SEGMENT_MAGIC
    assert struct.unpack_from("<HHIQQ", header, 8) == (FORMAT_VERSION, 0, 0xA1B2C3D4, 7, 99)
    assert struct.unpack_from("<I", header, 32)[0] == zlib.crc32(header[:32])


def test_frame_layout_matches_the_documented_offsets() -> None:
    frame = encode_frame(b"\x81\xa1t\xa1x", lsn=5, group_index=2, salt=1234)
    assert FRAME_HEADER_SIZE == 24
    assert frame[0:4] == FRAME_MAGIC
    assert struct.unpack_from("<IIQ", frame, 8) == (5, 2, 5)
    assert struct.unpack_from("<I", frame, 4)[0] == zlib.crc32(frame[8:], 1234)
    assert frame[24:] == b"\x81\xa1t\xa1x"


@given(number=U64, salt=U32, first_lsn=U64)
def test_header_round_trip(number: int, salt: int, first_lsn: int) -> None:
    header = decode_header(encode_header(number, salt, first_lsn))
    assert (header.version, header.number, header.salt, header.first_lsn) == (
        FORMAT_VERSION,
        number,
        salt,
        first_lsn,
    )


def test_every_header_bit_flip_is_detected() -> None:
    header = encode_header(3, 0xDEADBEEF, 42)
    for bit in range(len(header) * 8):
        damaged = bytearray(header)
        damaged[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises(HeaderError):
            decode_header(bytes(damaged))


def test_short_header_is_refused() -> None:
    with pytest.raises(HeaderError):
        decode_header(encode_header(1, 1, 1)[:-1])


@given(payload=st.binary(max_size=2048), lsn=U64, group_index=U32, salt=U32)
def test_frame_round_trip(payload: bytes, lsn: int, group_index: int, salt: int) -> None:
    data = b"junk" + encode_frame(payload, lsn, group_index, salt) + b"more"
    frame = decode_frame(data, 4, salt)
    assert frame is not None
    assert (frame.payload, frame.lsn, frame.group_index) == (payload, lsn, group_index)
    assert frame.size == FRAME_HEADER_SIZE + len(payload)
    # Another segment's salt, or any cut, never verifies.
    assert decode_frame(data, 4, salt ^ 1) is None
    assert decode_frame(data[: 4 + frame.size - 1], 4, salt) is None


@given(
    payloads=st.lists(st.binary(max_size=300), max_size=20),
    first=st.integers(1, 2**64 - 21),
    salt=U32,
)
def test_group_is_the_concatenation_of_its_frames(
    payloads: list[bytes], first: int, salt: int
) -> None:
    group = encode_group(payloads, first, salt)
    expected = b"".join(
        encode_frame(payload, first + index, index, salt) for index, payload in enumerate(payloads)
    )
    assert group == expected


@given(payload=st.binary(min_size=1, max_size=200), salt=U32, data=st.data())
def test_frame_bit_flips_never_verify(payload: bytes, salt: int, data: st.DataObject) -> None:
    frame = bytearray(encode_frame(payload, 10, 0, salt))
    bit = data.draw(st.integers(0, len(frame) * 8 - 1))
    frame[bit // 8] ^= 1 << (bit % 8)
    decoded = decode_frame(bytes(frame), 0, salt)
    assert decoded is None


def test_oversized_length_is_refused_without_reading() -> None:
    frame = bytearray(encode_frame(b"x", 1, 0, 0))
    struct.pack_into("<I", frame, 8, MAX_PAYLOAD + 1)
    assert decode_frame(bytes(frame) + bytes(MAX_PAYLOAD + 1), 0, 0) is None
