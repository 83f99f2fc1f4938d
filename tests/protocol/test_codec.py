"""The codec decodes strictly and, whatever it is fed, raises nothing but a ProtocolError."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
import typing
from collections.abc import Callable

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from batchd.protocol.codec import (
    MAX_CONTAINER_ITEMS,
    MAX_MESSAGE_BYTES,
    MAX_REQUEST_ID,
    RequestEnvelope,
    check_version,
    decode_event,
    decode_reply_envelope,
    decode_request_envelope,
    encode_error,
    encode_reply,
    encode_request,
    pack,
    parse_reply,
    parse_request,
    unpack,
)
from batchd.protocol.errors import (
    BatchdError,
    BatchNotFound,
    InvalidArguments,
    MalformedMessage,
    MessageTooLarge,
    ProtocolError,
    UnknownCommand,
    VersionMismatch,
)
from batchd.protocol.events import EVENTS
from batchd.protocol.messages import COMMANDS, HelloReply, HelloRequest, PingReply, PingRequest
from batchd.protocol.schema import to_wire
from batchd.protocol.version import PROTOCOL_VERSION

V = PROTOCOL_VERSION
REPLY_CLASSES = [c.reply for c in COMMANDS.values()]


def decode_request_fully(data: bytes) -> object:
    """What the daemon does with a request body: envelope, version check, arguments."""
    envelope = decode_request_envelope(data)
    check_version(envelope.version, "client")
    return parse_request(envelope)


def decode_reply_fully(data: bytes) -> None:
    """What the client does with a reply body, for every reply type it might expect."""
    envelope = decode_reply_envelope(data)
    check_version(envelope.version, "daemon")
    if envelope.error is not None:
        # An error reply carries the daemon's error, which may be any BatchdError.
        assert isinstance(envelope.error, BatchdError)
        return
    for reply_type in REPLY_CLASSES:
        with contextlib.suppress(ProtocolError):
            parse_reply(envelope, reply_type)


def decode_event_body(data: bytes) -> object:
    return decode_event([b"daemon", data])


DECODERS: list[Callable[[bytes], object]] = [
    decode_request_fully,
    decode_reply_fully,
    decode_event_body,
]


def only_protocol_errors(decode: Callable[[bytes], object], data: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        decode(data)


def request(**overrides: object) -> bytes:
    value: dict[object, object] = {"v": V, "id": 1, "cmd": "hello", "args": {"protocol": V}}
    value.update(overrides)
    return pack(value)


def reply(**overrides: object) -> bytes:
    value: dict[object, object] = {"v": V, "id": 1, "ok": True, "result": {}}
    value.update(overrides)
    return pack(value)


# --- Fuzzing: anything goes in, only ProtocolError comes out ---------------------------------


@pytest.mark.parametrize("decode", DECODERS, ids=lambda f: f.__name__)
@given(data=st.binary(max_size=200))
def test_random_bytes_raise_only_protocol_errors(
    decode: Callable[[bytes], object], data: bytes
) -> None:
    only_protocol_errors(decode, data)


@pytest.mark.parametrize("decode", DECODERS, ids=lambda f: f.__name__)
@given(data=st.data())
def test_random_msgpack_values_raise_only_protocol_errors(
    decode: Callable[[bytes], object], any_msgpack: st.SearchStrategy[object], data: st.DataObject
) -> None:
    only_protocol_errors(decode, pack(data.draw(any_msgpack)))


@given(data=st.data())
@settings(max_examples=300)
def test_request_shaped_maps_raise_only_protocol_errors(
    any_msgpack: st.SearchStrategy[object], data: st.DataObject
) -> None:
    keys = st.sampled_from(["v", "id", "cmd", "args"])
    values = st.sampled_from([V, 0, 1, None, True]) | st.sampled_from(list(COMMANDS)) | any_msgpack
    body = data.draw(st.dictionaries(keys, values))
    body.setdefault("args", data.draw(st.dictionaries(st.text(), any_msgpack) | any_msgpack))
    only_protocol_errors(decode_request_fully, pack(body))


@pytest.mark.parametrize("name", sorted(COMMANDS))
@given(data=st.data())
def test_args_with_one_field_replaced_decode_or_raise_invalid_arguments(
    name: str,
    wire_strategy: typing.Any,
    decodable_msgpack: st.SearchStrategy[object],
    data: st.DataObject,
) -> None:
    args = to_wire(data.draw(wire_strategy(COMMANDS[name].request)))
    key = data.draw(st.sampled_from([*args, "unknown"]))
    args[key] = data.draw(decodable_msgpack)
    envelope = RequestEnvelope(V, 1, name, args)
    with contextlib.suppress(InvalidArguments):
        parse_request(envelope)


@pytest.mark.parametrize("reply_type", REPLY_CLASSES, ids=lambda c: c.__name__)
@given(data=st.data())
def test_results_with_one_field_replaced_decode_or_raise_invalid_arguments(
    reply_type: type,
    wire_strategy: typing.Any,
    decodable_msgpack: st.SearchStrategy[object],
    data: st.DataObject,
) -> None:
    result = to_wire(data.draw(wire_strategy(reply_type)))
    key = data.draw(st.sampled_from([*result, "unknown"]))
    result[key] = data.draw(decodable_msgpack)
    with contextlib.suppress(InvalidArguments):
        parse_reply(decode_reply_envelope(reply(result=result)), reply_type)


@given(data=st.data())
def test_error_shaped_replies_raise_only_protocol_errors(
    any_msgpack: st.SearchStrategy[object], data: st.DataObject
) -> None:
    error = data.draw(
        st.fixed_dictionaries(
            {},
            optional={
                "code": st.text() | any_msgpack,
                "message": any_msgpack,
                "details": any_msgpack,
            },
        )
    )
    only_protocol_errors(decode_reply_fully, reply(ok=False, error=error, result=None))


@pytest.mark.parametrize("event_type", sorted(EVENTS))
@given(data=st.data())
def test_event_shaped_bodies_raise_only_protocol_errors(
    event_type: str, any_msgpack: st.SearchStrategy[object], data: st.DataObject
) -> None:
    body = {"v": V, "topic": "daemon", "seq": 1, "time": 1.0, "type": event_type}
    body["data"] = data.draw(any_msgpack)
    only_protocol_errors(decode_event_body, pack(body))


# --- Malformed msgpack, built as raw bytes ---------------------------------------------------

NESTED_ARRAYS = b"\x91" * 5000 + b"\xc0"
NESTED_MAPS = b"\x81\xa1k" * 5000 + b"\xc0"


def raw_map(*pairs: tuple[str, bytes]) -> bytes:
    """A msgpack map whose values are given as raw (possibly broken) msgpack bytes."""
    assert len(pairs) < 16
    return bytes([0x80 | len(pairs)]) + b"".join(pack(k) + v for k, v in pairs)


def request_with_raw_args(args: bytes) -> bytes:
    return raw_map(("v", pack(V)), ("id", pack(1)), ("cmd", pack("hello")), ("args", args))


def reply_with_raw_result(result: bytes) -> bytes:
    return raw_map(("v", pack(V)), ("id", pack(1)), ("ok", pack(True)), ("result", result))


def event_with_raw_data(data: bytes) -> bytes:
    head = [("v", pack(V)), ("topic", pack("daemon")), ("seq", pack(1)), ("time", pack(1.0))]
    return raw_map(*head, ("type", pack("daemon.status")), ("data", data))


WRAPPERS: list[Callable[[bytes], bytes]] = [
    lambda raw: raw,
    request_with_raw_args,
    reply_with_raw_result,
    event_with_raw_data,
]

BROKEN_VALUES = {
    "nested arrays": NESTED_ARRAYS,
    "nested maps": NESTED_MAPS,
    "array32 of 4G items": b"\xdd\xff\xff\xff\xff\xc0",
    "map32 of 4G pairs": b"\xdf\xff\xff\xff\xff\xa1k\xc0",
    "str32 of 4 GB": b"\xdb\xff\xff\xff\xffabc",
    "bin32 of 4 GB": b"\xc6\xff\xff\xff\xffabc",
    "ext32 of 4 GB": b"\xc9\xff\xff\xff\xff\x01abc",
    "array of 1M+1 nils": b"\xdd" + (MAX_CONTAINER_ITEMS + 1).to_bytes(4, "big") + b"\xc0" * 10,
    "invalid UTF-8": b"\xa2\xff\xfe",
    "lone surrogate in UTF-8": b"\xa3\xed\xa0\x80",
    "fixext1": b"\xd4\x05\x00",
    "ext8": b"\xc7\x02\x07ab",
    "timestamp ext": msgpack.packb(msgpack.Timestamp(1, 0)),
    "int map key": b"\x81\x01\xc0",
    "nil map key": b"\x81\xc0\xc0",
    "array map key": b"\x81\x90\xc0",
    "reserved byte 0xc1": b"\xc1",
    "truncated": b"\x92\x01",
    "empty": b"",
}


@pytest.mark.parametrize("decode", DECODERS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("wrap", WRAPPERS, ids=["bare", "in args", "in result", "in event data"])
@pytest.mark.parametrize("broken", list(BROKEN_VALUES.values()), ids=list(BROKEN_VALUES))
def test_broken_msgpack_anywhere_is_refused_quickly(
    decode: Callable[[bytes], object], wrap: Callable[[bytes], bytes], broken: bytes
) -> None:
    started = time.monotonic()
    with pytest.raises(ProtocolError):
        decode(wrap(broken))
    assert time.monotonic() - started < 1.0


def test_broken_msgpack_is_malformed_not_a_bare_parser_error() -> None:
    for broken in BROKEN_VALUES.values():
        with pytest.raises(MalformedMessage):
            decode_request_envelope(request_with_raw_args(broken))


def test_trailing_bytes_after_the_message_are_malformed() -> None:
    with pytest.raises(MalformedMessage):
        decode_request_envelope(request() + b"\xc0")


def test_bytes_map_keys_in_the_envelope_are_malformed() -> None:
    # Keys that mix str and bytes cannot be sorted: the message must still be a clean error.
    with pytest.raises(MalformedMessage, match="unknown envelope key"):
        decode_request_envelope(pack({b"x": 1, "y": 2, "v": V}))
    with pytest.raises(MalformedMessage, match="unknown envelope key b'cmd'"):
        decode_request_envelope(pack({"v": V, "id": 1, b"cmd": "ping", "args": {}}))


# --- Size limits ----------------------------------------------------------------------------


@pytest.mark.parametrize("decode", DECODERS, ids=lambda f: f.__name__)
def test_a_message_over_the_limit_is_too_large(decode: Callable[[bytes], object]) -> None:
    with pytest.raises(MessageTooLarge) as info:
        decode(b"\xc0" * (MAX_MESSAGE_BYTES + 1))
    assert info.value.details == {"size": MAX_MESSAGE_BYTES + 1, "limit": MAX_MESSAGE_BYTES}


def test_a_request_of_exactly_the_limit_is_accepted() -> None:
    small = encode_request(1, HelloRequest(protocol=V, client=""))
    padding = MAX_MESSAGE_BYTES - len(small) - 4  # a str32 header replaces the empty fixstr
    data = encode_request(1, HelloRequest(protocol=V, client="x" * padding))
    assert len(data) == MAX_MESSAGE_BYTES
    assert decode_request_fully(data) == HelloRequest(protocol=V, client="x" * padding)


def test_arrays_up_to_the_item_limit_are_accepted() -> None:
    data = b"\xdd" + MAX_CONTAINER_ITEMS.to_bytes(4, "big") + b"\xc0" * MAX_CONTAINER_ITEMS
    assert unpack(data) == [None] * MAX_CONTAINER_ITEMS


def test_nesting_is_accepted_to_1024_levels_as_documented() -> None:
    assert unpack(b"\x91" * 1024 + b"\xc0") is not None
    with pytest.raises(MalformedMessage):
        unpack(b"\x91" * 1025 + b"\xc0")


# --- Envelopes ------------------------------------------------------------------------------


def test_request_envelope_fields() -> None:
    envelope = decode_request_envelope(request(id=None))
    assert envelope == RequestEnvelope(V, None, "hello", {"protocol": V})


@pytest.mark.parametrize("request_id", [0, 1, MAX_REQUEST_ID, None])
def test_valid_ids_are_echoed(request_id: int | None) -> None:
    assert decode_request_envelope(request(id=request_id)).request_id == request_id
    assert decode_reply_envelope(reply(id=request_id)).request_id == request_id


@pytest.mark.parametrize(
    "request_id", [-1, -(2**63), MAX_REQUEST_ID + 1, 2**64 - 1, True, 1.0, "1"]
)
def test_invalid_ids_are_malformed(request_id: object) -> None:
    with pytest.raises(MalformedMessage, match="'id'"):
        decode_request_envelope(request(id=request_id))
    with pytest.raises(MalformedMessage, match="'id'"):
        decode_reply_envelope(reply(id=request_id))


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"v": True}, "'v'"),
        ({"v": "1"}, "'v'"),
        ({"v": 1.0}, "'v'"),
        ({"v": None}, "'v'"),
        ({"cmd": 1}, "'cmd'"),
        ({"cmd": b"hello"}, "'cmd'"),
        ({"cmd": None}, "'cmd'"),
        ({"args": []}, "'args'"),
        ({"args": None}, "'args'"),
        ({"extra": 1}, "unknown envelope key 'extra'"),
    ],
)
def test_broken_request_envelopes_are_malformed(overrides: dict[str, object], match: str) -> None:
    with pytest.raises(MalformedMessage, match=match):
        decode_request_envelope(request(**overrides))


@pytest.mark.parametrize("key", ["v", "id", "cmd", "args"])
def test_every_request_envelope_key_is_required(key: str) -> None:
    body = {"v": V, "id": 1, "cmd": "ping", "args": {}}
    del body[key]
    with pytest.raises(MalformedMessage, match=f"missing envelope key '{key}'"):
        decode_request_envelope(pack(body))


def test_a_message_must_be_a_map() -> None:
    for value in ([V, 1, "ping", {}], "ping", 1, None):
        with pytest.raises(MalformedMessage, match="must be a map"):
            decode_request_envelope(pack(value))
        with pytest.raises(MalformedMessage, match="must be a map"):
            decode_reply_envelope(pack(value))


@pytest.mark.parametrize(
    "body",
    [
        {"v": V, "id": 1, "ok": True},
        {"v": V, "id": 1, "ok": False},
        {"v": V, "ok": True, "result": {}},
        {"id": 1, "ok": True, "result": {}},
        {"v": V, "id": 1, "result": {}},
        {"v": V, "id": 1, "ok": 1, "result": {}},
        {"v": V, "id": 1, "ok": True, "result": []},
        {"v": V, "id": 1, "ok": True, "result": None},
        {"v": V, "id": 1, "ok": True, "result": {}, "error": None},
        {"v": V, "id": 1, "ok": False, "result": {}, "error": {}},
        {"v": V, "id": 1, "ok": False, "error": None},
        {"v": V, "id": 1, "ok": False, "error": {"code": "X", "message": "m"}},
        {"v": V, "id": 1, "ok": False, "error": {"code": "X", "message": "m", "details": []}},
        {"v": V, "id": 1, "ok": False, "error": {"code": 1, "message": "m", "details": {}}},
        {"v": V, "id": 1, "ok": False, "error": {"code": "X", "message": 1, "details": {}}},
        {
            "v": V,
            "id": 1,
            "ok": False,
            "error": {"code": "X", "message": "", "details": {}, "x": 1},
        },
        {"v": V, "id": 1, "ok": True, "result": {}, "extra": 1},
    ],
    ids=repr,
)
def test_broken_reply_envelopes_are_malformed(body: dict[str, object]) -> None:
    with pytest.raises(MalformedMessage):
        decode_reply_envelope(pack(body))


def test_an_error_reply_becomes_its_exception_without_raising() -> None:
    data = encode_error(5, BatchNotFound("no batch 9", {"id": 9}))
    envelope = decode_reply_envelope(data)
    assert envelope.result is None
    assert isinstance(envelope.error, BatchNotFound)
    assert (envelope.error.message, envelope.error.details) == ("no batch 9", {"id": 9})
    with pytest.raises(BatchNotFound):
        parse_reply(envelope, HelloReply)


def test_unknown_command_names_the_command_and_the_known_ones() -> None:
    with pytest.raises(UnknownCommand) as info:
        decode_request_fully(request(cmd="frobnicate", args={}))
    assert info.value.details == {"command": "frobnicate"}
    assert "'frobnicate'" in info.value.message
    for name in COMMANDS:
        assert name in info.value.message


@pytest.mark.parametrize(
    "args",
    [
        {"protocol": True},
        {"protocol": "1"},
        {"protocol": V, "client": 1},
        {"protocol": V, "unknown": 1},
        {"client": "c"},
        {"protocol": V, b"client": "c"},
    ],
    ids=repr,
)
def test_bad_hello_args_are_invalid_arguments(args: dict[object, object]) -> None:
    with pytest.raises(InvalidArguments) as info:
        decode_request_fully(request(args=args))
    assert str(info.value.details["field"]).startswith("hello args.")


def test_ping_takes_no_arguments() -> None:
    assert decode_request_fully(request(cmd="ping", args={})) == PingRequest()
    with pytest.raises(InvalidArguments, match="unknown field 'x'"):
        decode_request_fully(request(cmd="ping", args={"x": 1}))


# --- Versions -------------------------------------------------------------------------------


def test_a_request_of_another_version_still_decodes_its_envelope() -> None:
    # The daemon needs the id to address its VERSION_MISMATCH reply.
    envelope = decode_request_envelope(request(v=V + 1, id=42, cmd="future", args={"x": 1}))
    assert (envelope.version, envelope.request_id) == (V + 1, 42)
    with pytest.raises(VersionMismatch) as info:
        check_version(envelope.version, "client")
    assert info.value.message == (
        f"protocol version mismatch: the client speaks version {V + 1}, this side speaks version "
        f"{V}; install the same batchd release on both"
    )
    assert info.value.details == {"peer_protocol": V + 1, "protocol": V}


def test_a_version_mismatch_reply_from_a_newer_daemon_is_readable() -> None:
    error = {"code": "VERSION_MISMATCH", "message": "client 1, daemon 2", "details": {}}
    envelope = decode_reply_envelope(pack({"v": V + 1, "id": 3, "ok": False, "error": error}))
    assert envelope.version == V + 1
    assert isinstance(envelope.error, VersionMismatch)
    with pytest.raises(
        VersionMismatch, match=rf"the daemon speaks version {V + 1}, this side speaks version {V};"
    ):
        check_version(envelope.version, "daemon")


def test_encode_request_can_speak_another_version_for_tests() -> None:
    envelope = decode_request_envelope(encode_request(1, PingRequest(), version=V + 7))
    assert envelope.version == V + 7


def test_pack_keeps_bytes_binary_and_str_text() -> None:
    assert pack(b"ab") == b"\xc4\x02ab"
    assert pack("ab") == b"\xa2ab"
    assert unpack(pack({"k": [b"\x00", "x", None, True, 1.5]})) == {
        "k": [b"\x00", "x", None, True, 1.5]
    }


def test_replies_encode_and_decode_with_nil_id() -> None:
    ping = PingReply("0.1.0", V, 1, 0.0, 0.0, None, "/s")
    assert parse_reply(decode_reply_envelope(encode_reply(None, ping)), PingReply) == ping


# --- Purity ---------------------------------------------------------------------------------


def test_the_protocol_package_imports_neither_zmq_nor_the_filesystem() -> None:
    # Compare against what the interpreter (and the editable-install finder) loaded already.
    code = (
        "import sys\n"
        "before = set(sys.modules)\n"
        "import batchd.protocol.codec, batchd.protocol.endpoints\n"
        "new = {name.partition('.')[0] for name in set(sys.modules) - before}\n"
        "print(sorted(new & {'zmq', 'socket', 'pathlib', 'shutil', 'tempfile', 'psutil'}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
