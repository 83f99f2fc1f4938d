"""docs/protocol.md lists exactly the fields, types, codes and bytes the code has.

Tables are found by the HTML comment before them (``<!-- table: NAME -->``), examples by
``<!-- hex: NAME -->`` before a fenced block. When this test fails after a protocol change, its
message says what the doc should contain.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import re
import types
import typing
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from batchd.protocol import codec
from batchd.protocol.batch_messages import (
    BatchProgress,
    BatchState,
    ItemState,
    PlannedStep,
    ProgressRequest,
    SubmitBeginReply,
    SubmitBeginRequest,
    SubmitChunkReply,
    SubmitChunkRequest,
    SubmitEndRequest,
    UploadState,
    UploadStatusReply,
    UploadStatusRequest,
)
from batchd.protocol.codec import (
    MAX_CONTAINER_ITEMS,
    MAX_MESSAGE_BYTES,
    encode_error,
    encode_event,
    encode_reply,
    encode_request,
)
from batchd.protocol.errors import ErrorCode, UnknownCommand, error_from_wire
from batchd.protocol.events import (
    EVENTS,
    BatchItemsEvent,
    BatchProgressEvent,
    DaemonState,
    DaemonStatus,
    ItemChange,
    batch_topic,
)
from batchd.protocol.messages import COMMANDS, HelloReply, HelloRequest, PingReply, PingRequest
from batchd.protocol.version import PROTOCOL_VERSION

DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"
MARKER = re.compile(r"^<!-- (table|hex): (\S+) -->$")


def doc_text() -> str:
    """The doc with every run of whitespace (line wraps included) as one space."""
    return " ".join(DOC.read_text(encoding="utf-8").split())


def doc_lines() -> list[str]:
    return DOC.read_text(encoding="utf-8").splitlines()


def tables() -> dict[str, list[list[str]]]:
    """Every marked table: name -> rows of cells (header and separator rows dropped)."""
    lines = doc_lines()
    found: dict[str, list[list[str]]] = {}
    for i, line in enumerate(lines):
        match = MARKER.match(line)
        if not match or match[1] != "table":
            continue
        assert match[2] not in found, f"table {match[2]} appears twice"
        body = []
        for row in lines[i + 1 :]:
            if not row.startswith("|"):
                break
            body.append([cell.strip() for cell in row.strip().strip("|").split("|")])
        assert len(body) >= 2, f"table {match[2]} has no header"
        found[match[2]] = body[2:]
    return found


def hex_blocks() -> dict[str, bytes]:
    """Every marked hex example: name -> the bytes it shows."""
    lines = doc_lines()
    found: dict[str, bytes] = {}
    for i, line in enumerate(lines):
        match = MARKER.match(line)
        if not match or match[1] != "hex":
            continue
        assert lines[i + 1].startswith("```"), f"hex block {match[2]} must follow its marker"
        end = lines.index("```", i + 2)
        found[match[2]] = bytes.fromhex(" ".join(lines[i + 2 : end]))
    return found


def section_heading(marker: str) -> str:
    """The nearest `###` heading above a marker."""
    lines = doc_lines()
    index = lines.index(marker)
    return next(line for line in reversed(lines[:index]) if line.startswith("### "))


def doc_type(annotation: Any) -> str:
    """How the doc spells a field's wire type."""
    simple = {bool: "bool", int: "int", float: "float", str: "str", bytes: "bin", object: "any"}
    if annotation in simple:
        return simple[annotation]
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (types.UnionType, typing.Union):
        (inner,) = (a for a in args if a is not type(None))
        return f"{doc_type(inner)} or nil"
    if origin is tuple:
        return f"array of {doc_type(args[0])}"
    if origin is dict:
        return f"map of str to {doc_type(args[1])}"
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return "str: one of " + ", ".join(sorted(str(m.value) for m in annotation))
    if isinstance(annotation, type) and dataclasses.is_dataclass(annotation):
        return f"map `{annotation.__name__}`"
    raise TypeError(f"teach doc_type about {annotation!r}")


def expected_rows(cls: type) -> list[list[str]]:
    """(field, type, required) for every field of a wire dataclass, in declaration order."""
    hints = typing.get_type_hints(cls)
    rows = []
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            default: object = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = dataclasses.MISSING
        if default is dataclasses.MISSING:
            required = "yes"
        else:
            wire_default = list(default) if isinstance(default, tuple) else default
            required = f"no (default `{json.dumps(wire_default)}`)"
        rows.append([f"`{f.name}`", doc_type(hints[f.name]), required])
    return rows


def test_every_wire_class_has_exactly_one_table(wire_classes: list[type]) -> None:
    documented = {name for name in tables() if not name.startswith(("envelope.", "error-"))}
    assert documented == {cls.__name__ for cls in wire_classes}


def test_every_table_lists_exactly_the_fields_and_types(wire_classes: list[type]) -> None:
    found = tables()
    for cls in wire_classes:
        rows = [row[:3] for row in found[cls.__name__]]
        assert rows == expected_rows(cls), f"docs/protocol.md table {cls.__name__}"
        assert all(len(row) == 4 and row[3] for row in found[cls.__name__]), (
            f"every field of {cls.__name__} needs a meaning"
        )


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_request_and_reply_tables_sit_under_their_command(name: str) -> None:
    command = COMMANDS[name]
    for cls in (command.request, command.reply):
        heading = section_heading(f"<!-- table: {cls.__name__} -->")
        assert f"`{name}`" in heading, (cls.__name__, heading)


@pytest.mark.parametrize("type_name", sorted(EVENTS))
@given(data=st.data())
@settings(max_examples=5)
def test_event_tables_sit_under_their_type_and_name_the_topic(
    type_name: str, wire_strategy: Any, data: st.DataObject
) -> None:
    cls = EVENTS[type_name]
    marker = f"<!-- table: {cls.__name__} -->"
    heading = section_heading(marker)
    assert f"`{type_name}`" in heading
    lines = doc_lines()
    section = "\n".join(lines[lines.index(heading) : lines.index(marker)])
    topic = data.draw(wire_strategy(cls)).topic
    shown = "batch.<id>" if topic.startswith("batch.") else topic
    assert f"Topic `{shown}`" in section


@pytest.mark.parametrize(
    ("table", "keys"),
    [
        ("envelope.request", codec._REQUEST_KEYS),
        ("envelope.reply", codec._REPLY_KEYS),
        ("envelope.error", codec._ERROR_KEYS),
        ("envelope.event", codec._EVENT_KEYS),
    ],
)
def test_envelope_tables_list_exactly_the_envelope_keys(table: str, keys: frozenset[str]) -> None:
    assert {row[0].strip("`") for row in tables()[table]} == keys


def test_error_code_table_lists_every_code_with_its_class() -> None:
    rows = tables()["error-codes"]
    documented = {row[0].strip("`"): row[1].strip("`") for row in rows}
    assert len(documented) == len(rows)
    expected = {
        code.value: type(error_from_wire(code.value, "", {})).__name__ for code in ErrorCode
    }
    assert documented == expected
    assert all(row[2] for row in rows)


def test_limits_and_version_in_the_doc_match_the_code() -> None:
    text = doc_text()
    assert f"Current protocol version: **{PROTOCOL_VERSION}**" in text
    assert f"`MAX_MESSAGE_BYTES` = {MAX_MESSAGE_BYTES} bytes" in text
    assert f"at most {MAX_CONTAINER_ITEMS} items in one array" in text


EXAMPLE_PLAN = (
    b'{"op": "mkdir", "path": "sorted"}\n{"op": "move", "src": "a.jpg", "dst": "sorted/a.jpg"}\n'
)
"""The plan the worked example submits (section 8), from the client's cwd ``/home/ann``."""


def example_messages() -> dict[str, bytes]:
    """The doc's examples, encoded by the real codec."""
    v = PROTOCOL_VERSION
    ping = PingReply(
        daemon_version="0.1.0",
        protocol=v,
        pid=4242,
        uptime=12.5,
        started_at=1767225600.0,
        last_stop_clean=True,
        state_dir="/var/lib/batchd",
    )
    unknown = UnknownCommand("unknown command 'frobnicate'", {"command": "frobnicate"})
    status = DaemonStatus(state=DaemonState.RUNNING, pid=4242, uptime=15.0)
    upload = "5f0c3e9a1b2d4c68"
    validating = UploadStatusReply(upload, UploadState.VALIDATING, None, 0, 0, (), ())
    preview = (
        PlannedStep(0, 1, "mkdir", b"/home/ann/sorted", None, 0),
        PlannedStep(1, 2, "move", b"/home/ann/a.jpg", b"/home/ann/sorted/a.jpg", 1),
    )
    accepted = UploadStatusReply(upload, UploadState.ACCEPTED, 7, 2, 0, (), preview)
    running = BatchProgress(
        id=7,
        name="photos",
        state=BatchState.RUNNING,
        total=2,
        completed=1,
        failed=0,
        progress=0.5,
        eta=0.5,
        rate=2.0,
        running=1,
        pending=0,
        elapsed=0.5,
        retried=0,
        priority=0,
        submitted_at=1767225620.0,
        finished_at=None,
    )
    completed = dataclasses.replace(
        running,
        state=BatchState.COMPLETED,
        completed=2,
        progress=1.0,
        eta=0.0,
        rate=2.5,
        running=0,
        elapsed=0.8,
        finished_at=1767225620.8,
    )
    items = BatchItemsEvent(7, (ItemChange(1, 2, ItemState.COMPLETED, ""),), 0)
    return {
        "hello-request": encode_request(1, HelloRequest(protocol=v, client="batchctl 0.1.0")),
        "hello-reply": encode_reply(1, HelloReply(protocol=v, daemon_version="0.1.0", pid=4242)),
        "ping-request": encode_request(2, PingRequest()),
        "ping-reply": encode_reply(2, ping),
        "unknown-command-error": encode_error(3, unknown),
        "daemon-status-event": encode_event(status, seq=3, time=1767225615.0)[1],
        "submit-begin-request": encode_request(4, SubmitBeginRequest("photos", b"/home/ann")),
        "submit-begin-reply": encode_reply(4, SubmitBeginReply(upload, 1024 * 1024)),
        "submit-chunk-request": encode_request(5, SubmitChunkRequest(upload, 0, EXAMPLE_PLAN)),
        "submit-chunk-reply": encode_reply(5, SubmitChunkReply(upload, len(EXAMPLE_PLAN))),
        "submit-end-request": encode_request(6, SubmitEndRequest(upload)),
        "submit-end-reply": encode_reply(6, validating),
        "upload-status-request": encode_request(7, UploadStatusRequest(upload)),
        "upload-status-reply": encode_reply(7, accepted),
        "progress-request": encode_request(8, ProgressRequest(7)),
        "progress-reply": encode_reply(8, running),
        "batch-items-event": encode_event(items, seq=9, time=1767225621.0)[1],
        "batch-progress-event": encode_event(
            BatchProgressEvent(completed), seq=10, time=1767225621.0
        )[1],
    }


def shown_as_json(value: object) -> str:
    """A decoded message as the doc writes it: ``json.dumps``, except that a bin value (which
    JSON lacks) is written ``b"…"`` with its bytes as a JSON string (ASCII only)."""
    if isinstance(value, bytes):
        return "b" + json.dumps(value.decode("ascii"))
    if isinstance(value, dict):
        pairs = (f"{json.dumps(k)}: {shown_as_json(v)}" for k, v in value.items())
        return "{" + ", ".join(pairs) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(shown_as_json(v) for v in value) + "]"
    return json.dumps(value)


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=15,
)


@given(value=_JSON_VALUES)
def test_shown_as_json_is_json_dumps_without_bin(value: object) -> None:
    assert shown_as_json(value) == json.dumps(value)


def formatted(data: bytes) -> str:
    octets = data.hex(" ").split()
    return "\n".join(" ".join(octets[i : i + 16]) for i in range(0, len(octets), 16))


def test_the_hex_examples_are_what_the_codec_produces() -> None:
    shown = hex_blocks()
    expected = example_messages()
    assert set(shown) == set(expected)
    for name, data in expected.items():
        assert shown[name] == data, f"docs/protocol.md {name} should read:\n{formatted(data)}"


@pytest.mark.parametrize("name", sorted(example_messages()))
def test_each_example_states_its_size_and_decoded_value(name: str) -> None:
    data = example_messages()[name]
    text = doc_text()
    assert f"{len(data)} bytes" in text
    assert shown_as_json(codec.unpack(data)) in text, f"{name} should be shown as JSON"


def test_the_example_subscription_is_the_batch_topic() -> None:
    """The worked example's SUB subscription message is 0x01 + the topic of batch 7."""
    text = doc_text()
    topic = batch_topic(7).encode()
    subscribe = b"\x01" + topic
    assert f"`{subscribe.hex(' ')}`" in text
    assert f"frame 0 is `{topic.hex(' ')}` (`{topic.decode()}`)" in text
