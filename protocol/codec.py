"""The msgpack codec: envelopes of requests, replies and events, decoded strictly.

Decoding never raises anything but a :class:`~batchd.protocol.errors.ProtocolError`: bytes
that are not msgpack, a value that is not a map, a broken envelope, an unknown command or field,
or a field of the wrong type. Each step is its own function so the daemon can answer with the
request id whenever the envelope got that far.

The tables of commands and events are imported by the functions that look names up in them
(:func:`parse_request`, :func:`decode_event`), not with this module: building every message
class is most of the protocol's import time, and a client that only pings needs few of them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, TypeVar

import msgpack

from batchd.protocol.errors import (
    BatchdError,
    MalformedMessage,
    MessageTooLarge,
    UnknownCommand,
    VersionMismatch,
    clip,
    error_from_wire,
)
from batchd.protocol.schema import from_wire, to_wire
from batchd.protocol.version import PROTOCOL_VERSION

if TYPE_CHECKING:
    from batchd.protocol.events import Event
    from batchd.protocol.messages import Reply, Request

MAX_MESSAGE_BYTES: Final = 2 * 1024 * 1024
"""Largest message either side accepts (the daemon also sets it as ZMQ_MAXMSGSIZE). Small on
purpose: a msgpack byte can unpack into a 50-byte Python object, so this bounds what one request
can make the daemon allocate; large payloads (plans) travel as a stream of messages."""

MAX_CONTAINER_ITEMS: Final = 100_000
MAX_REQUEST_ID: Final = 2**63 - 1

R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class RequestEnvelope:
    """A request's outer map: version, id, command name and its still-raw arguments."""

    version: int
    request_id: int | None
    command: str
    args: Mapping[str, object]


@dataclass(frozen=True, slots=True)
class ReplyEnvelope:
    """A reply's outer map: version, the id it answers, and a result or an error."""

    version: int
    request_id: int | None
    result: Mapping[str, object] | None
    error: BatchdError | None


@dataclass(frozen=True, slots=True)
class EventFrame:
    """A decoded event with its topic, sequence number and wall-clock time."""

    topic: str
    seq: int
    time: float
    event: Event


def unpack(data: bytes) -> object:
    """Decode one msgpack value with strict limits; raises MalformedMessage or MessageTooLarge."""
    if len(data) > MAX_MESSAGE_BYTES:
        raise MessageTooLarge(
            f"message of {len(data)} bytes exceeds the limit of {MAX_MESSAGE_BYTES} bytes",
            {"size": len(data), "limit": MAX_MESSAGE_BYTES},
        )
    try:
        return msgpack.unpackb(
            data,
            raw=False,
            strict_map_key=True,
            use_list=True,
            max_array_len=MAX_CONTAINER_ITEMS,
            max_map_len=MAX_CONTAINER_ITEMS,
            max_ext_len=0,
        )
    except Exception as exc:  # the unpacker raises many types; all mean "not a message"
        raise MalformedMessage(f"not a valid msgpack message: {exc}") from None


def pack(value: object) -> bytes:
    """Encode a msgpack-ready value (bytes stay binary, str stays str)."""
    packed: bytes = msgpack.packb(value, use_bin_type=True)
    return packed


def _envelope_map(data: bytes, keys: frozenset[str], required: frozenset[str]) -> dict[str, object]:
    value = unpack(data)
    if not isinstance(value, dict):
        raise MalformedMessage(f"a message must be a map, got {type(value).__name__}")
    unknown = set(value).difference(keys)
    if unknown:
        # keys may mix str and bytes, which do not compare with each other
        raise MalformedMessage(f"unknown envelope key {min(unknown, key=repr)!r}")
    missing = required.difference(value)
    if missing:
        raise MalformedMessage(f"missing envelope key {min(missing)!r}")
    version = value.get("v")
    if not isinstance(version, int) or isinstance(version, bool):
        raise MalformedMessage("envelope key 'v' (protocol version) must be an integer")
    request_id = value.get("id")
    if request_id is not None and (
        not isinstance(request_id, int)
        or isinstance(request_id, bool)
        or not 0 <= request_id <= MAX_REQUEST_ID
    ):
        raise MalformedMessage(f"envelope key 'id' must be nil or an integer 0..{MAX_REQUEST_ID}")
    return value


_REQUEST_KEYS: Final = frozenset({"v", "id", "cmd", "args"})
_REPLY_KEYS: Final = frozenset({"v", "id", "ok", "result", "error"})
_REPLY_REQUIRED_KEYS: Final = frozenset({"v", "id", "ok"})
_ERROR_KEYS: Final = frozenset({"code", "message", "details"})
_EVENT_KEYS: Final = frozenset({"v", "topic", "seq", "time", "type", "data"})


def encode_request(request_id: int, message: Request, version: int = PROTOCOL_VERSION) -> bytes:
    """Encode a request envelope."""
    return pack({"v": version, "id": request_id, "cmd": message.COMMAND, "args": to_wire(message)})


def decode_request_envelope(data: bytes) -> RequestEnvelope:
    """Decode a request's outer map; the arguments stay raw until :func:`parse_request`."""
    value = _envelope_map(data, _REQUEST_KEYS, _REQUEST_KEYS)
    command = value["cmd"]
    args = value["args"]
    if not isinstance(command, str):
        raise MalformedMessage("envelope key 'cmd' must be a string")
    if not isinstance(args, dict):
        raise MalformedMessage("envelope key 'args' must be a map")
    request_id = value.get("id")
    assert request_id is None or isinstance(request_id, int)
    version = value["v"]
    assert isinstance(version, int)
    return RequestEnvelope(version, request_id, command, args)


def check_version(peer_version: int, who: str) -> None:
    """Raise VersionMismatch naming both versions when the peer's differs from ours."""
    if peer_version != PROTOCOL_VERSION:
        raise VersionMismatch(
            f"protocol version mismatch: the {who} speaks version {peer_version}, this side "
            f"speaks version {PROTOCOL_VERSION}; install the same batchd release on both",
            {"peer_protocol": peer_version, "protocol": PROTOCOL_VERSION},
        )


def parse_request(envelope: RequestEnvelope) -> Request:
    """Build the request message named by the envelope; raises UnknownCommand/InvalidArguments."""
    from batchd.protocol.messages import COMMANDS

    command = COMMANDS.get(envelope.command)
    if command is None:
        name = clip(envelope.command)
        raise UnknownCommand(
            f"unknown command {name!r}; known: {', '.join(sorted(COMMANDS))}", {"command": name}
        )
    message: Request = from_wire(command.request, envelope.args, f"{envelope.command} args")
    return message


def encode_reply(request_id: int | None, reply: Reply) -> bytes:
    """Encode a successful reply."""
    return pack({"v": PROTOCOL_VERSION, "id": request_id, "ok": True, "result": to_wire(reply)})


def encode_error(request_id: int | None, error: BatchdError) -> bytes:
    """Encode an error reply from a batchd exception."""
    body = {"code": error.wire_code, "message": error.message, "details": error.details}
    return pack({"v": PROTOCOL_VERSION, "id": request_id, "ok": False, "error": body})


def decode_reply_envelope(data: bytes) -> ReplyEnvelope:
    """Decode a reply's outer map, turning an error reply into its exception (not raised)."""
    value = _envelope_map(data, _REPLY_KEYS, _REPLY_REQUIRED_KEYS)
    ok = value["ok"]
    if not isinstance(ok, bool):
        raise MalformedMessage("envelope key 'ok' must be a bool")
    if ("result" in value) is not ok or ("error" in value) is ok:
        raise MalformedMessage("a reply has 'result' when 'ok' is true, else 'error'; not both")
    version = value["v"]
    request_id = value.get("id")
    assert isinstance(version, int)
    assert request_id is None or isinstance(request_id, int)
    if ok:
        result = value.get("result")
        if not isinstance(result, dict):
            raise MalformedMessage("a successful reply needs a 'result' map")
        return ReplyEnvelope(version, request_id, result, None)
    return ReplyEnvelope(version, request_id, None, _error_from_body(value.get("error")))


def _error_from_body(body: object) -> BatchdError:
    if not isinstance(body, dict) or set(body) != _ERROR_KEYS:
        raise MalformedMessage("an error reply needs an 'error' map of code, message, details")
    code, message, details = body["code"], body["message"], body["details"]
    if not isinstance(code, str) or not isinstance(message, str) or not isinstance(details, dict):
        raise MalformedMessage("an error needs 'code' and 'message' strings and a 'details' map")
    return error_from_wire(code, message, details)


def parse_reply(envelope: ReplyEnvelope, reply_type: type[R]) -> R:
    """Return the reply message, or raise the error the daemon sent."""
    if envelope.error is not None:
        raise envelope.error
    assert envelope.result is not None
    return from_wire(reply_type, envelope.result, reply_type.__name__)


def encode_event(event: Event, seq: int, time: float) -> list[bytes]:
    """Encode an event as its two frames: topic, body."""
    body = {
        "v": PROTOCOL_VERSION,
        "topic": event.topic,
        "seq": seq,
        "time": time,
        "type": event.TYPE,
        "data": to_wire(event),
    }
    return [event.topic.encode(), pack(body)]


def decode_event(frames: Sequence[bytes]) -> EventFrame:
    """Decode an event's frames; raises a ProtocolError for anything malformed."""
    if len(frames) != 2:
        raise MalformedMessage(f"an event has 2 frames (topic, body), got {len(frames)}")
    value = unpack(frames[1])
    if not isinstance(value, dict) or set(value) != _EVENT_KEYS:
        raise MalformedMessage(f"an event body is a map with keys {sorted(_EVENT_KEYS)}")
    version, topic, seq, time = value["v"], value["topic"], value["seq"], value["time"]
    if not isinstance(version, int) or isinstance(version, bool):
        raise MalformedMessage("event key 'v' must be an integer")
    check_version(version, "daemon")
    if not isinstance(topic, str) or topic.encode() != frames[0]:
        raise MalformedMessage("event topic frame and body 'topic' differ")
    if not isinstance(seq, int) or isinstance(seq, bool) or not isinstance(time, float | int):
        raise MalformedMessage("event 'seq' must be an integer and 'time' a number")
    event_type = value["type"]
    if not isinstance(event_type, str):
        raise MalformedMessage("event 'type' must be a string")
    from batchd.protocol.events import EVENTS

    event_cls = EVENTS.get(event_type)
    if event_cls is None:
        raise MalformedMessage(f"unknown event type {clip(event_type)!r}")
    event = from_wire(event_cls, value["data"], event_cls.TYPE)
    return EventFrame(topic, seq, float(time), event)
