"""Strict dataclass <-> msgpack-value conversion: exact types, known fields, useful paths."""

from __future__ import annotations

import dataclasses
import enum
import typing

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from batchd.protocol.codec import pack, unpack
from batchd.protocol.errors import InvalidArguments
from batchd.protocol.messages import (
    HelloRequest,
    JournalStats,
    LimitActions,
    LimitsInForce,
    PingReply,
    StatsReply,
    WorkerStats,
)
from batchd.protocol.schema import from_wire, to_wire


class Colour(enum.Enum):
    """A str-valued enum, as the schema supports."""

    RED = "red"
    BLUE = "blue"


@dataclasses.dataclass(frozen=True, slots=True)
class Inner:
    """A nested dataclass."""

    n: int


@dataclasses.dataclass(frozen=True, slots=True)
class EveryAnnotation:
    """One field of each annotation the schema supports (messages do not use them all yet)."""

    flag: bool
    count: int
    ratio: float
    name: str
    blob: bytes
    maybe: int | None
    items: tuple[Inner, ...]
    labels: dict[str, int]
    colour: Colour
    inner: Inner
    anything: object
    note: str = "default"


def journal() -> JournalStats:
    return JournalStats(segments=1, bytes=2, durable_lsn=3, records=4, commits=5, fsyncs=6)


def stats_wire(**overrides: object) -> dict[str, object]:
    """A valid StatsReply as wire values, with some fields replaced."""
    reply = StatsReply(
        pid=1,
        uptime=2.0,
        rss=3,
        cpu_percent=4.0,
        cpu_user=5.0,
        cpu_system=6.0,
        threads=7,
        open_fds=8,
        journal=journal(),
        limits=LimitsInForce(
            max_workers=2,
            enable_checkpoint=True,
            enable_rollback=False,
            cpu_limit_percent=100,
            worker_memory_limit_mb=0,
            total_memory_limit_mb=0,
        ),
        limit_actions=LimitActions(1, 0.5, 2, 3),
        workers=(WorkerStats(pid=9, state="idle", cpu_percent=0.5, rss=10),),
    )
    wire = to_wire(reply)
    wire.update(overrides)
    return wire


@given(data=st.data())
def test_every_supported_annotation_round_trips_through_msgpack(
    wire_strategy: typing.Any, data: st.DataObject
) -> None:
    value = data.draw(wire_strategy(EveryAnnotation))
    wire = unpack(pack(to_wire(value)))
    assert from_wire(EveryAnnotation, wire) == value


def test_to_wire_uses_plain_msgpack_values() -> None:
    wire = to_wire(from_wire(StatsReply, stats_wire()))
    assert isinstance(wire["journal"], dict)
    assert isinstance(wire["workers"], list)
    assert wire["workers"][0] == {
        "pid": 9,
        "state": "idle",
        "cpu_percent": 0.5,
        "rss": 10,
        "batch": None,
        "item": None,
    }


def test_enums_travel_as_their_string_value() -> None:
    value = EveryAnnotation(True, 1, 1.0, "", b"", None, (), {}, Colour.BLUE, Inner(1), None)
    assert to_wire(value)["colour"] == "blue"
    with pytest.raises(InvalidArguments, match="one of blue, red"):
        from_wire(EveryAnnotation, {**to_wire(value), "colour": "green"})


@pytest.mark.parametrize(
    ("field", "bad", "expected"),
    [
        ("pid", True, "int"),  # bool is an int in Python, never on the wire
        ("pid", 1.0, "int"),
        ("pid", "1", "int"),
        ("pid", None, "int"),
        ("uptime", True, "float"),
        ("uptime", "2", "float"),
        ("last_stop_clean", 1, "bool"),
        ("last_stop_clean", "true", "bool"),
        ("daemon_version", 1, "str"),
        ("daemon_version", b"0.1.0", "str"),
        ("state_dir", None, "str"),
    ],
)
def test_wrong_field_types_are_refused(field: str, bad: object, expected: str) -> None:
    wire = to_wire(PingReply("0.1.0", 1, 2, 3.0, 4.0, None, "/s"))
    wire[field] = bad
    with pytest.raises(InvalidArguments) as info:
        from_wire(PingReply, wire)
    assert info.value.details == {"field": f"PingReply.{field}", "expected": expected}
    assert f"PingReply.{field}: expected {expected}" in info.value.message


def test_an_integer_is_accepted_for_a_float_field_and_becomes_a_float() -> None:
    wire = {**to_wire(PingReply("0.1.0", 1, 2, 3.0, 4.0, None, "/s")), "uptime": 3}
    decoded = from_wire(PingReply, wire)
    assert decoded.uptime == 3.0
    assert isinstance(decoded.uptime, float)


def test_bytes_and_str_are_distinct() -> None:
    value = EveryAnnotation(True, 1, 1.0, "", b"", None, (), {}, Colour.RED, Inner(1), None)
    with pytest.raises(InvalidArguments, match="expected bin"):
        from_wire(EveryAnnotation, {**to_wire(value), "blob": "text"})


def test_unknown_field_is_refused_with_its_path() -> None:
    with pytest.raises(InvalidArguments, match="unknown field 'nope'") as info:
        from_wire(HelloRequest, {"protocol": 1, "nope": 2})
    assert info.value.details == {"field": "HelloRequest.nope"}


def test_non_string_field_name_is_an_unknown_field() -> None:
    with pytest.raises(InvalidArguments, match="unknown field b'protocol'"):
        from_wire(HelloRequest, {b"protocol": 1})


def test_missing_required_field_is_refused_with_its_path() -> None:
    with pytest.raises(InvalidArguments, match="missing field 'protocol'") as info:
        from_wire(HelloRequest, {"client": "x"})
    assert info.value.details == {"field": "HelloRequest.protocol"}


@given(data=st.data())
@settings(max_examples=20)
def test_fields_with_defaults_may_be_omitted(
    wire_classes: list[type], wire_strategy: typing.Any, data: st.DataObject
) -> None:
    for cls in wire_classes:
        optional = [
            f
            for f in dataclasses.fields(cls)
            if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        ]
        wire = to_wire(data.draw(wire_strategy(cls)))
        for f in optional:
            del wire[f.name]
        decoded = from_wire(cls, wire)
        for f in optional:
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
            assert getattr(decoded, f.name) == default


@pytest.mark.parametrize(
    ("overrides", "path"),
    [
        ({"journal": {**to_wire(journal()), "fsyncs": "x"}}, "StatsReply.journal.fsyncs"),
        ({"journal": [1]}, "StatsReply.journal"),
        ({"workers": {}}, "StatsReply.workers"),
        ({"workers": [{"pid": 1, "state": "s", "cpu_percent": 1, "rss": None}]}, "[0].rss"),
        (
            {
                "limits": {
                    "max_workers": 1,
                    "enable_checkpoint": True,
                    "cpu_limit_percent": 100,
                    "worker_memory_limit_mb": 0,
                    "total_memory_limit_mb": 0,
                }
            },
            "enable_rollback",
        ),
    ],
)
def test_nested_errors_name_the_full_path(overrides: dict[str, object], path: str) -> None:
    with pytest.raises(InvalidArguments) as info:
        from_wire(StatsReply, stats_wire(**overrides))
    field = info.value.details["field"]
    assert isinstance(field, str)
    assert field.endswith(path) or field == path


def test_non_string_map_keys_are_refused() -> None:
    value = EveryAnnotation(True, 1, 1.0, "", b"", None, (), {}, Colour.RED, Inner(1), None)
    with pytest.raises(InvalidArguments, match="key"):
        from_wire(EveryAnnotation, {**to_wire(value), "labels": {b"k": 1}})


def test_a_message_must_be_a_map() -> None:
    for value in (None, [], 1, "x", b"x"):
        with pytest.raises(InvalidArguments, match="expected map"):
            from_wire(HelloRequest, value)


@pytest.mark.parametrize(
    "annotation",
    [list[int], set[str], dict[int, int], int | str, int | str | None, tuple[int, str]],
    ids=repr,
)
def test_unsupported_annotations_are_refused_when_the_class_is_first_used(
    annotation: object,
) -> None:
    cls = dataclasses.make_dataclass("Odd", [("x", annotation)], frozen=True)
    with pytest.raises(TypeError, match="supported"):
        from_wire(cls, {"x": 1})
