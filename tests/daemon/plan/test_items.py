"""One line into a PlanItem: every kind of bad line is rejected naming the field."""

from __future__ import annotations

import base64
import json

import msgpack
import pytest

from batchd.daemon.ops.step import OpKind
from batchd.daemon.plan.items import PlanItem, parse_item


def parse(line: bytes | dict[str, object]) -> PlanItem | list[str]:
    raw = line if isinstance(line, bytes) else json.dumps(line).encode()
    return parse_item(3, raw, cwd=b"/w", known_handlers={"exif"})


def problems(line: bytes | dict[str, object]) -> list[str]:
    result = parse(line)
    assert isinstance(result, list), result
    return result


def test_every_op_parses() -> None:
    assert parse({"op": "move", "src": "a", "dst": "b", "overwrite": True}) == PlanItem(
        3, OpKind.MOVE, b"/w/a", b"/w/b", overwrite=True
    )
    assert parse({"op": "copy", "src": "/x", "dst": "y"}) == PlanItem(
        3, OpKind.COPY, b"/x", b"/w/y"
    )
    assert parse({"op": "delete", "path": "old.log"}) == PlanItem(3, OpKind.DELETE, b"/w/old.log")
    assert parse({"op": "mkdir", "path": "d"}) == PlanItem(3, OpKind.MKDIR, b"/w/d")
    assert parse(
        {"op": "transform", "path": "n", "command": ["sed", "s/a/b/"], "timeout": 2}
    ) == PlanItem(3, OpKind.TRANSFORM, b"/w/n", command=("sed", "s/a/b/"), timeout=2.0)
    assert parse({"op": "checksum", "path": "i"}) == PlanItem(
        3, OpKind.CHECKSUM, b"/w/i", algorithm="sha256"
    )
    assert parse({"op": "checksum", "path": "i", "algorithm": "md5"}) == PlanItem(
        3, OpKind.CHECKSUM, b"/w/i", algorithm="md5"
    )
    item = parse({"op": "call", "handler": "exif", "path": "a", "args": {"k": [1, "v"]}})
    assert isinstance(item, PlanItem)
    assert msgpack.unpackb(item.args) == {"k": [1, "v"]}
    assert item.handler == "exif"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b'{"op": "move", "src": "a"', "not valid JSON: Expecting ',' delimiter (column 26)"),
        (b"not json", "not valid JSON: Expecting value (column 1)"),
        (b'{"op": "delete", "path": "\xff"}', "not valid UTF-8 (byte 27)"),
        (b'{"op": "delete", "path": "a", "path": "b"}', 'field "path" appears twice'),
        (b'{"op": "checksum", "path": "a", "timeout": NaN}', "NaN is not a number"),
        (b"[1, 2]", "expected a JSON object, got an array"),
        (b'"move"', "expected a JSON object, got a string"),
        (b'{"src": "a"}', 'missing field "op"'),
        (b'{"op": "rename"}', 'unknown op "rename" (one of: move, copy'),
        (b'{"op": 3}', "unknown op 3"),
    ],
)
def test_bad_json_lines(line: bytes, expected: str) -> None:
    assert any(expected in message for message in problems(line)), problems(line)


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ({"op": "move", "src": "a"}, 'missing field "dst"'),
        ({"op": "move", "src": "a", "dst": "b", "dest": "c"}, 'unknown field "dest" for op "move"'),
        ({"op": "delete", "path": "a", "overwrite": True}, 'unknown field "overwrite"'),
        ({"op": "move", "src": "a", "dst": "b", "overwrite": "yes"}, 'field "overwrite" must be'),
        ({"op": "move", "src": "a", "dst": "b", "overwrite": 1}, 'field "overwrite" must be'),
        ({"op": "move", "src": 5, "dst": "b"}, 'field "src" must be a string or {"b64"'),
        ({"op": "move", "src": {"b64": "!!"}, "dst": "b"}, 'field "src": "b64" is not valid'),
        ({"op": "move", "src": {"hex": "61"}, "dst": "b"}, 'field "src" must be a string'),
        ({"op": "transform", "path": "a", "command": []}, 'field "command" must be a non-empty'),
        ({"op": "transform", "path": "a", "command": "sed"}, 'field "command" must be'),
        ({"op": "transform", "path": "a", "command": ["a", 1]}, "element 1 is not a string"),
        ({"op": "transform", "path": "a", "command": ["a\u0000"]}, "element 0 contains a NUL"),
        ({"op": "transform", "path": "a", "command": ["c"], "timeout": 0}, 'field "timeout"'),
        ({"op": "transform", "path": "a", "command": ["c"], "timeout": "1"}, 'field "timeout"'),
        ({"op": "call", "handler": "exif", "path": "a", "timeout": True}, 'field "timeout"'),
        ({"op": "checksum", "path": "a", "algorithm": "crc"}, 'unknown algorithm "crc"'),
        ({"op": "checksum", "path": "a", "algorithm": "shake_128"}, "unknown algorithm"),
        ({"op": "checksum", "path": "a", "algorithm": ["md5"]}, 'field "algorithm"'),
        ({"op": "call", "handler": "nope", "path": "a"}, 'unknown handler "nope" (known: exif)'),
        ({"op": "call", "handler": "", "path": "a"}, 'field "handler" must be a non-empty'),
        ({"op": "call", "handler": "exif", "path": "a", "args": [1]}, 'field "args" must be'),
        ({"op": "call", "handler": "exif", "path": "a", "args": {"n": 2**70}}, 'field "args"'),
        ({"op": "delete", "path": ""}, 'field "path" is empty'),
        ({"op": "delete", "path": "a\u0000b"}, 'field "path" contains a NUL byte'),
        ({"op": "mkdir", "path": "d/.."}, "field \"path\" ends with '..'"),
        ({"op": "move", "src": "a", "dst": "dir/"}, "field \"dst\" ends with '/'"),
        ({"op": "move", "src": "a", "dst": "n" * 256}, "NAME_MAX) is 255 bytes"),
        ({"op": "move", "src": "a", "dst": "\ud800"}, "lone surrogate"),
    ],
)
def test_bad_fields_are_named(item: dict[str, object], expected: str) -> None:
    assert any(expected in message for message in problems(item)), problems(item)


def test_every_field_problem_of_a_line_is_reported() -> None:
    found = problems({"op": "move", "src": "", "dst": "", "overwrite": 2})
    assert len(found) == 3


def test_names_that_are_not_utf8_are_lossless() -> None:
    raw = b"caf\xe9 \xff.txt"
    escaped = raw.decode("utf-8", "surrogateescape")
    by_escape = parse({"op": "delete", "path": escaped})
    by_b64 = parse({"op": "delete", "path": {"b64": base64.b64encode(raw).decode()}})
    assert isinstance(by_escape, PlanItem) and isinstance(by_b64, PlanItem)
    assert by_escape.path == by_b64.path == b"/w/" + raw
