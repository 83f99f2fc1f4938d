"""Frames: round trips, bounds, corruption, and decoding under arbitrary read splits."""

from __future__ import annotations

import struct

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from batchd.daemon.pool.framing import FrameDecoder, FrameError, encode_frame

messages = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.binary() | st.text(),
    lambda inner: st.lists(inner, max_size=4),
    max_leaves=12,
)


@given(st.lists(messages, max_size=8), st.data())
def test_any_split_of_the_stream_decodes_to_the_same_messages(
    sent: list[object], data: st.DataObject
) -> None:
    stream = b"".join(encode_frame(message) for message in sent)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    decoder = FrameDecoder()
    received: list[object] = []
    start = 0
    for cut in [*cuts, len(stream)]:
        received += decoder.feed(stream[start:cut])
        start = cut
    assert received == sent
    assert decoder.pending == 0


def test_a_partial_frame_waits_for_the_rest() -> None:
    frame = encode_frame([1, b"path", "text"])
    decoder = FrameDecoder()
    assert decoder.feed(frame[:3]) == []
    assert decoder.feed(frame[3:-1]) == []
    assert decoder.pending == len(frame) - 1
    assert decoder.feed(frame[-1:]) == [[1, b"path", "text"]]


def test_an_oversized_announcement_is_refused_before_the_payload_arrives() -> None:
    decoder = FrameDecoder(max_frame=100)
    with pytest.raises(FrameError, match="above the limit of 100"):
        decoder.feed(struct.pack(">I", 101))


def test_encoding_refuses_a_frame_above_the_limit() -> None:
    with pytest.raises(FrameError, match="exceeds the limit"):
        encode_frame(b"x" * 200, max_frame=100)


@pytest.mark.parametrize(
    "payload",
    [b"\xc1", msgpack.packb(1) + msgpack.packb(2), b"\xa3\xff\xfe\xfd", b"\x92\x01"],
    ids=["reserved-byte", "two-objects", "bad-utf8", "truncated-array"],
)
def test_a_corrupt_payload_raises_and_keeps_the_messages_before_it(payload: bytes) -> None:
    decoder = FrameDecoder()
    good = encode_frame(["before"])
    with pytest.raises(FrameError) as caught:
        decoder.feed(good + struct.pack(">I", len(payload)) + payload + good)
    assert caught.value.decoded == [["before"]]
    with pytest.raises(FrameError):  # out of sync for good
        decoder.feed(good)
