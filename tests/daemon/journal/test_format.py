"""Segment header and block encoding: layout, checksums, round trips."""

from __future__ import annotations

import struct
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from batchd.daemon.journal.format import (
    BLOCK_HEADER_SIZE,
    BLOCK_LAST,
    BLOCK_MAGIC,
    BLOCK_TARGET,
    FORMAT_VERSION,
    HEADER_SIZE,
    MAX_PAYLOAD,
    SEGMENT_MAGIC,
    HeaderError,
    decode_block,
    decode_header,
    encode_block,
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


def test_block_layout_matches_the_documented_offsets() -> None:
    payload = b"\x93\x01\x02\x03\x92\x02\xc3"  # [1, 2, 3] and [2, true]
    block = encode_block(payload, count=2, first_lsn=5, group_offset=3, last=True, salt=1234)
    assert BLOCK_HEADER_SIZE == 32
    assert block[0:4] == BLOCK_MAGIC == b"\xc1BJB"
    assert struct.unpack_from("<IIQII", block, 8) == (len(payload), 2, 5, 3, BLOCK_LAST)
    assert struct.unpack_from("<I", block, 4)[0] == zlib.crc32(block[8:], 1234)
    assert block[32:] == payload


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


@given(
    payload=st.binary(min_size=1, max_size=2048),
    first_lsn=st.integers(2**32, 2**64 - 1),
    data=st.data(),
    last=st.booleans(),
    salt=U32,
)
def test_block_round_trip(
    payload: bytes, first_lsn: int, data: st.DataObject, last: bool, salt: int
) -> None:
    count = data.draw(st.integers(1, len(payload)))
    group_offset = data.draw(U32)
    block_bytes = encode_block(
        payload, count=count, first_lsn=first_lsn, group_offset=group_offset, last=last, salt=salt
    )
    stream = b"junk" + block_bytes + b"more"
    block = decode_block(stream, 4, salt)
    assert block is not None
    assert (block.payload, block.count, block.first_lsn, block.last) == (
        payload,
        count,
        first_lsn,
        last,
    )
    assert block.group_lsn == first_lsn - group_offset
    assert block.size == BLOCK_HEADER_SIZE + len(payload)
    # Another segment's salt, or any cut, never verifies.
    assert decode_block(stream, 4, salt ^ 1) is None
    assert decode_block(stream[: 4 + block.size - 1], 4, salt) is None


@given(
    payloads=st.lists(st.binary(min_size=1, max_size=300), min_size=1, max_size=40),
    first=st.integers(1, 2**64 - 41),
    salt=U32,
    target=st.integers(1, 2000),
)
def test_group_is_split_into_bounded_blocks_that_hold_every_payload_in_order(
    payloads: list[bytes], first: int, salt: int, target: int
) -> None:
    group = encode_group(payloads, first, salt, target)
    pos, lsn, joined = 0, first, b""
    blocks = []
    while pos < len(group):
        block = decode_block(group, pos, salt)
        assert block is not None
        assert block.first_lsn == lsn and block.group_lsn == first
        assert block.count == 1 or len(block.payload) <= target
        blocks.append(block)
        joined += block.payload
        lsn += block.count
        pos += block.size
    assert lsn == first + len(payloads) and joined == b"".join(payloads)
    assert [block.last for block in blocks] == [False] * (len(blocks) - 1) + [True]
    # Greedy: a block ends only where the next payload would not fit.
    start = 0
    for block in blocks[:-1]:
        stop = start + block.count
        assert len(block.payload) + len(payloads[stop]) > target
        start = stop


def test_a_group_within_the_block_target_is_one_block() -> None:
    payloads = [b"\x01" * 100] * (BLOCK_TARGET // 100)
    group = encode_group(payloads, 1, 7)
    block = decode_block(group, 0, 7)
    assert block is not None and block.last and block.size == len(group)
    assert len(encode_group([*payloads, b"\x01" * 100], 1, 7)) > len(group) + BLOCK_HEADER_SIZE


def test_an_empty_group_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one"):
        encode_group([], 1, 0)


@given(payload=st.binary(min_size=1, max_size=200), salt=U32, data=st.data())
def test_block_bit_flips_never_verify(payload: bytes, salt: int, data: st.DataObject) -> None:
    block = bytearray(
        encode_block(payload, count=1, first_lsn=10, group_offset=0, last=True, salt=salt)
    )
    bit = data.draw(st.integers(0, len(block) * 8 - 1))
    block[bit // 8] ^= 1 << (bit % 8)
    assert decode_block(bytes(block), 0, salt) is None


@pytest.mark.parametrize(
    ("offset", "value"),
    [(8, MAX_PAYLOAD + 1), (12, 0), (12, 2), (28, 2)],
    ids=["length over the bound", "no records", "more records than bytes", "unknown flag"],
)
def test_insane_header_fields_are_refused_even_with_a_valid_checksum(
    offset: int, value: int
) -> None:
    block = bytearray(
        encode_block(b"\x01", count=1, first_lsn=1, group_offset=0, last=True, salt=0)
    )
    struct.pack_into("<I", block, offset, value)
    struct.pack_into("<I", block, 4, zlib.crc32(block[8:]))
    tail = bytes(MAX_PAYLOAD + 1) if offset == 8 else b""
    assert decode_block(bytes(block) + tail, 0, 0) is None
