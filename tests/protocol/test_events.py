"""Every event survives the wire unchanged; malformed event frames are refused cleanly."""

from __future__ import annotations

import dataclasses
import typing

import pytest
from hypothesis import given
from hypothesis import strategies as st

from batchd.protocol.codec import MAX_MESSAGE_BYTES, decode_event, encode_event, pack
from batchd.protocol.errors import (
    InvalidArguments,
    MalformedMessage,
    MessageTooLarge,
    ProtocolError,
    VersionMismatch,
)
from batchd.protocol.events import DAEMON_TOPIC, EVENTS, DaemonState, DaemonStatus, Event
from batchd.protocol.version import PROTOCOL_VERSION

EVENT_LIST = sorted(EVENTS.values(), key=lambda cls: cls.TYPE)
times = st.floats(allow_nan=False)
seqs = st.integers(0, 2**64 - 1)


def body(**overrides: object) -> dict[str, object]:
    """A valid daemon.status event body, with some keys replaced."""
    value: dict[str, object] = {
        "v": PROTOCOL_VERSION,
        "topic": DAEMON_TOPIC,
        "seq": 1,
        "time": 1.5,
        "type": DaemonStatus.TYPE,
        "data": {"state": "running", "pid": 10, "uptime": 2.0},
    }
    value.update(overrides)
    return value


def frames(**overrides: object) -> list[bytes]:
    """Both frames of a daemon.status event, with some body keys replaced."""
    value = body(**overrides)
    topic = value["topic"]
    return [topic.encode() if isinstance(topic, str) else b"x", pack(value)]


def test_the_round_trips_cover_every_event() -> None:
    assert set(EVENT_LIST) == set(EVENTS.values()) == set(typing.get_args(Event) or (Event,))
    for type_name, cls in EVENTS.items():
        assert type_name == cls.TYPE
        assert dataclasses.is_dataclass(cls)
        assert cls.__dataclass_params__.frozen  # type: ignore[attr-defined]


@pytest.mark.parametrize("event_cls", EVENT_LIST, ids=lambda cls: cls.TYPE)
@given(data=st.data(), seq=seqs, time=times)
def test_every_event_round_trips(
    event_cls: type, wire_strategy: typing.Any, data: st.DataObject, seq: int, time: float
) -> None:
    event = data.draw(wire_strategy(event_cls))
    topic, payload = encode_event(event, seq, time)
    assert topic == event.topic.encode()
    decoded = decode_event([topic, payload])
    assert decoded.event == event
    assert (decoded.topic, decoded.seq, decoded.time) == (event.topic, seq, time)


@pytest.mark.parametrize("event_cls", EVENT_LIST, ids=lambda cls: cls.TYPE)
@given(data=st.data())
def test_every_topic_is_daemon_or_a_batch(
    event_cls: type, wire_strategy: typing.Any, data: st.DataObject
) -> None:
    topic = data.draw(wire_strategy(event_cls)).topic
    assert topic == DAEMON_TOPIC or topic.startswith("batch.")


def test_daemon_status_is_published_under_the_daemon_topic() -> None:
    status = DaemonStatus(state=DaemonState.RUNNING, pid=1, uptime=0.0)
    assert encode_event(status, 0, 0.0)[0] == b"daemon"
    assert decode_event(frames()).event == DaemonStatus(DaemonState.RUNNING, 10, 2.0)


def test_integer_time_is_accepted_as_float() -> None:
    decoded = decode_event(frames(time=3))
    assert decoded.time == 3.0
    assert isinstance(decoded.time, float)


@pytest.mark.parametrize("count", [0, 1, 3])
def test_an_event_has_exactly_two_frames(count: int) -> None:
    with pytest.raises(MalformedMessage, match="2 frames"):
        decode_event((frames() * 2)[:count])


def test_topic_frame_must_match_the_body() -> None:
    with pytest.raises(MalformedMessage, match="topic"):
        decode_event([b"batch.1", frames()[1]])


def test_an_event_of_another_protocol_version_names_both_versions() -> None:
    with pytest.raises(VersionMismatch) as info:
        decode_event(frames(v=PROTOCOL_VERSION + 1))
    assert str(PROTOCOL_VERSION + 1) in info.value.message
    assert str(PROTOCOL_VERSION) in info.value.message
    assert info.value.details == {
        "peer_protocol": PROTOCOL_VERSION + 1,
        "protocol": PROTOCOL_VERSION,
    }


@pytest.mark.parametrize(
    "overrides",
    [
        {"v": True},
        {"v": "1"},
        {"topic": 5},
        {"seq": True},
        {"seq": 1.0},
        {"time": "now"},
        {"time": None},
        {"type": "daemon.nope"},
        {"type": None},
        {"type": ["daemon.status"]},
        {"data": None},
        {"data": []},
    ],
    ids=repr,
)
def test_broken_event_fields_are_malformed(overrides: dict[str, object]) -> None:
    with pytest.raises(ProtocolError):
        decode_event(frames(**overrides))


@pytest.mark.parametrize(
    "data",
    [
        {"state": "running", "pid": 1},
        {"state": "running", "pid": 1, "uptime": 1.0, "extra": 1},
        {"state": 1, "pid": 1, "uptime": 1.0},
        {"state": "running", "pid": True, "uptime": 1.0},
    ],
    ids=repr,
)
def test_bad_event_data_is_invalid_arguments(data: dict[str, object]) -> None:
    with pytest.raises(InvalidArguments):
        decode_event(frames(data=data))


def test_missing_and_extra_body_keys_are_malformed() -> None:
    value = body()
    del value["seq"]
    with pytest.raises(MalformedMessage):
        decode_event([b"daemon", pack(value)])
    with pytest.raises(MalformedMessage):
        decode_event([b"daemon", pack(body(extra=1))])


def test_a_deeply_nested_event_type_is_malformed_not_a_recursion_error() -> None:
    # Regression: the unknown type used to be repr()'d, which overflowed the stack at ~1000 levels.
    for depth in (900, 1020, 5000):
        nested = b"\x91" * depth + b"\xc0"
        raw = b"\x86" + b"".join(
            pack(k) + (nested if k == "type" else pack(v)) for k, v in body().items()
        )
        with pytest.raises(MalformedMessage):
            decode_event([b"daemon", raw])


def test_an_oversized_event_is_too_large() -> None:
    with pytest.raises(MessageTooLarge):
        decode_event([b"daemon", b"\x00" * (MAX_MESSAGE_BYTES + 1)])
