"""The control socket under hostile input: garbage never stops the daemon from serving."""

from __future__ import annotations

import random

import msgpack
import zmq
from polling import wait_until
from running_daemon import RunningDaemon

from batchd.daemon.server import Incoming, parse_frames
from batchd.protocol import codec
from batchd.protocol.errors import ErrorCode, MalformedMessage
from batchd.protocol.messages import PingRequest


def test_parse_frames_layouts() -> None:
    assert parse_frames([b"id", b"", b"body"]) == Incoming(b"id", True, b"body")
    assert parse_frames([b"id", b"body"]) == Incoming(b"id", False, b"body")
    assert parse_frames([b"id", b""]).body is None
    assert parse_frames([b"id"]).body is None
    assert parse_frames([b"id", b"", b"a", b"b"]) == Incoming(b"id", True, None)


def _garbage(rng: random.Random, i: int) -> list[bytes]:
    kind = i % 8
    valid = codec.encode_request(i, PingRequest())
    if kind == 0:
        return [b"", rng.randbytes(rng.randint(0, 200))]
    if kind == 1:
        return [b"", valid[: rng.randint(0, len(valid) - 1)]]
    if kind == 2:
        return [b"", msgpack.packb({"v": 99, "id": i, "cmd": "ping", "args": {}})]
    if kind == 3:  # a map header that claims 2**32-1 entries
        return [b"", b"\xdf\xff\xff\xff\xff"]
    if kind == 4:
        return [b"", msgpack.packb([1, 2, 3])]
    if kind == 5:
        return [b"", b"a", b"b", b"c"]
    if kind == 6:
        return [b""]
    return [b"", msgpack.packb({"v": 1, "id": i, "cmd": "ping", "args": {"x": [1] * 100}})]


def test_ten_thousand_garbage_frames_leave_it_answering(daemon: RunningDaemon) -> None:
    rng = random.Random(1234)
    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVHWM, 0)  # keep every reply: each garbage message must be answered
    sock.connect(daemon.control_endpoint)
    sent = 10_000
    for i in range(sent):
        sock.send_multipart(_garbage(rng, i))
    replies: list[list[bytes]] = []

    def drained() -> bool:
        while sock.poll(50):
            replies.append(sock.recv_multipart())
        return len(replies) >= sent

    wait_until(drained, timeout=60, what="error replies to the garbage")
    assert len(replies) == sent
    codes = set()
    for frames in replies:
        envelope = codec.decode_reply_envelope(frames[-1])
        assert envelope.error is not None
        codes.add(envelope.error.wire_code)
    assert {
        ErrorCode.MALFORMED_MESSAGE.value,
        ErrorCode.VERSION_MISMATCH.value,
        ErrorCode.INVALID_ARGUMENTS.value,
    } <= codes
    sock.close()
    assert daemon.ping().pid == daemon.process.pid  # type: ignore[union-attr]


def test_oversized_message_is_dropped_and_daemon_keeps_serving(daemon: RunningDaemon) -> None:
    huge = b"\x00" * (codec.MAX_MESSAGE_BYTES + 1)
    assert daemon.send_raw([b"", huge], timeout=1.0) is None
    assert daemon.ping().pid == daemon.process.pid  # type: ignore[union-attr]


def test_request_without_delimiter_gets_a_reply_without_one(daemon: RunningDaemon) -> None:
    reply = daemon.send_raw([codec.encode_request(7, PingRequest())])
    assert reply is not None and len(reply) == 1
    envelope = codec.decode_reply_envelope(reply[0])
    assert envelope.request_id == 7 and envelope.error is None


def test_malformed_reply_names_the_problem(daemon: RunningDaemon) -> None:
    reply = daemon.send_raw([b"", b"\xc1"])
    assert reply is not None
    envelope = codec.decode_reply_envelope(reply[1])
    assert isinstance(envelope.error, MalformedMessage)
    assert "msgpack" in envelope.error.message
