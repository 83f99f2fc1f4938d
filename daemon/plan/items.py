"""Parsing one plan line into a ``PlanItem``: fields, types and paths, nothing about the tree.

Paths are JSON strings turned into bytes with ``os.fsencode`` (so ``"\\udcff"`` is the byte
0xff), or objects ``{"b64": "..."}`` holding the raw bytes in base64 for names that are not
valid UTF-8.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import sys
from collections.abc import Collection
from dataclasses import dataclass
from json.scanner import make_scanner
from typing import Final

import msgpack

from batchd.daemon.ops.step import OpKind
from batchd.daemon.plan.paths import PathError, resolve_path

DEFAULT_ALGORITHM: Final = "sha256"
ALGORITHMS: Final = frozenset(
    name for name in hashlib.algorithms_guaranteed if not name.startswith("shake_")
)

OPS: Final = {
    "move": OpKind.MOVE,
    "copy": OpKind.COPY,
    "delete": OpKind.DELETE,
    "mkdir": OpKind.MKDIR,
    "transform": OpKind.TRANSFORM,
    "checksum": OpKind.CHECKSUM,
    "call": OpKind.CALL,
}
# (required, optional) fields per op, besides "op".
_FIELDS: Final[dict[str, tuple[tuple[str, ...], tuple[str, ...]]]] = {
    "move": (("src", "dst"), ("overwrite",)),
    "copy": (("src", "dst"), ("overwrite",)),
    "delete": (("path",), ()),
    "mkdir": (("path",), ()),
    "transform": (("path", "command"), ("timeout",)),
    "checksum": (("path",), ("algorithm",)),
    "call": (("handler", "path"), ("args", "timeout")),
}

_REQUIRED: Final = {op: frozenset(fields[0]) for op, fields in _FIELDS.items()}
_ALLOWED: Final = {op: frozenset(("op", *fields[0], *fields[1])) for op, fields in _FIELDS.items()}


@dataclass(frozen=True, slots=True)
class PlanItem:
    """One valid plan line: ``path`` is the source of move/copy and the target otherwise."""

    line: int
    op: OpKind
    path: bytes
    dest: bytes | None = None
    overwrite: bool = False
    command: tuple[str, ...] = ()
    algorithm: str = ""
    handler: str = ""
    args: bytes = b""
    timeout: float | None = None


_FS_ENCODING: Final = sys.getfilesystemencoding()
_FS_ERRORS: Final = sys.getfilesystemencodeerrors()
_JSON_TYPES: Final[dict[type, str]] = {
    list: "an array",
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "true or false",
    type(None): "null",
}


class _LineProblems(Exception):
    def __init__(self, messages: list[str]) -> None:
        super().__init__(messages)
        self.messages = messages


def _pairs_without_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    result: dict[str, object] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f'field "{key}" appears twice')
        result[key] = value
    return result


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not a number JSON allows")


_DECODER: Final = json.JSONDecoder(
    object_pairs_hook=_pairs_without_duplicates, parse_constant=_no_constant
)

# What _DECODER.decode runs, without its checks (typeshed types the argument wrongly).
_SCAN: Final = make_scanner(_DECODER)  # type: ignore[arg-type]


def _decode(raw: bytes) -> object:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise _LineProblems(
            [f"not valid UTF-8 (byte {error.start + 1}); save the plan as UTF-8"]
        ) from None
    try:  # the whole line is one value: skip decode()'s checks for what follows it
        value, end = _SCAN(text, 0)
        if end == len(text):
            return value
    except (StopIteration, ValueError):
        pass  # decode() below reports it
    try:
        return _DECODER.decode(text)
    except json.JSONDecodeError as error:
        raise _LineProblems([f"not valid JSON: {error.msg} (column {error.colno})"]) from None
    except ValueError as error:  # from the hooks above
        raise _LineProblems([f"not valid JSON: {error}"]) from None


def _path_bytes(field: str, value: object) -> bytes:
    if isinstance(value, str):
        try:
            return value.encode(_FS_ENCODING, _FS_ERRORS)  # os.fsencode, inlined
        except UnicodeEncodeError:
            raise PathError(
                f'field "{field}" contains a lone surrogate that is not a byte escape; '
                'write names that are not UTF-8 as {"b64": "..."}'
            ) from None
    if isinstance(value, dict) and set(value) == {"b64"} and isinstance(value["b64"], str):
        try:
            return base64.b64decode(value["b64"], validate=True)
        except (binascii.Error, ValueError):
            raise PathError(f'field "{field}": "b64" is not valid base64') from None
    raise PathError(f'field "{field}" must be a string or {{"b64": "..."}}')


class _Fields:
    """Typed access to one line's object, collecting every problem instead of stopping."""

    def __init__(self, data: dict[str, object], cwd: bytes) -> None:
        self.data = data
        self.cwd = cwd
        self.problems: list[str] = []

    def path(self, field: str, *, names_target: bool) -> bytes:
        try:
            raw = _path_bytes(field, self.data[field])
            return resolve_path(raw, self.cwd, names_target=names_target)
        except PathError as error:
            message = str(error)
            self.problems.append(
                message if message.startswith("field") else f'field "{field}" {message}'
            )
            return b""

    def boolean(self, field: str) -> bool:
        value = self.data.get(field, False)
        if type(value) is not bool:
            self.problems.append(f'field "{field}" must be true or false')
            return False
        return value

    def timeout(self) -> float | None:
        if "timeout" not in self.data:
            return None
        value = self.data["timeout"]
        if type(value) not in (int, float):
            value = math.nan
        seconds = float(value)  # type: ignore[arg-type]
        if not math.isfinite(seconds) or seconds <= 0:
            self.problems.append('field "timeout" must be a positive number of seconds')
            return None
        return seconds

    def command(self) -> tuple[str, ...]:
        value = self.data["command"]
        if not isinstance(value, list) or not value:
            self.problems.append('field "command" must be a non-empty array of strings')
            return ()
        for position, argument in enumerate(value):
            if not isinstance(argument, str):
                self.problems.append(f'field "command": element {position} is not a string')
            elif "\0" in argument:
                self.problems.append(f'field "command": element {position} contains a NUL')
        return tuple(value)

    def algorithm(self) -> str:
        value = self.data.get("algorithm", DEFAULT_ALGORITHM)
        if not isinstance(value, str) or value not in ALGORITHMS:
            self.problems.append(
                f'field "algorithm": unknown algorithm {json.dumps(value)} '
                f"(one of: {', '.join(sorted(ALGORITHMS))})"
            )
            return ""
        return str(value)

    def handler(self, known_handlers: Collection[str]) -> str:
        value = self.data["handler"]
        if not isinstance(value, str) or not value:
            self.problems.append('field "handler" must be a non-empty string')
            return ""
        if value not in known_handlers:
            known = ", ".join(sorted(known_handlers)[:20]) or "none are installed"
            self.problems.append(f'unknown handler "{value}" (known: {known})')
        return value

    def args(self) -> bytes:
        if "args" not in self.data:
            return b""
        value = self.data["args"]
        if not isinstance(value, dict):
            self.problems.append('field "args" must be an object')
            return b""
        try:
            packed = msgpack.packb(value, use_bin_type=True)
        except (OverflowError, ValueError) as error:
            self.problems.append(f'field "args" cannot be stored: {error}')
            return b""
        return bytes(packed)


Transfer = tuple[OpKind, bytes, bytes, bool]
"""A plain move or copy: ``(op, src, dst, overwrite)``."""


def parse_item(
    line: int, raw: bytes, *, cwd: bytes, known_handlers: Collection[str]
) -> PlanItem | list[str]:
    """Parse one non-blank plan line; returns the item or every problem of the line."""
    parsed = parse_line(line, raw, cwd=cwd, known_handlers=known_handlers)
    if isinstance(parsed, tuple):
        op, src, dst, overwrite = parsed
        return PlanItem(line, op, src, dst, overwrite)
    return parsed


def parse_line(
    line: int, raw: bytes, *, cwd: bytes, known_handlers: Collection[str]
) -> PlanItem | Transfer | list[str]:
    """``parse_item``, but a move or copy comes back as a ``Transfer`` tuple, which costs
    a fraction of a ``PlanItem`` (``ItemTable.append_transfer`` takes it)."""
    try:
        data = _decode(raw)
    except _LineProblems as bad:
        return bad.messages
    if not isinstance(data, dict):
        return [f"expected a JSON object, got {_JSON_TYPES.get(type(data), 'a value')}"]
    name = data.get("op")
    if name is None:
        return ['missing field "op"']
    if not isinstance(name, str) or name not in OPS:
        return [f"unknown op {json.dumps(name)} (one of: {', '.join(OPS)})"]
    required, optional = _FIELDS[name]
    keys = data.keys()
    if not (keys <= _ALLOWED[name] and keys >= _REQUIRED[name]):
        allowed = ", ".join((*required, *optional))
        problems = [f'missing field "{field}"' for field in required if field not in data]
        problems += [
            f'unknown field {json.dumps(field)} for op "{name}" (allowed: {allowed})'
            for field in data
            if field != "op" and field not in required and field not in optional
        ]
        return problems
    fields = _Fields(data, cwd)
    op = OPS[name]
    if op is OpKind.MOVE or op is OpKind.COPY:
        src = fields.path("src", names_target=False)
        dst = fields.path("dst", names_target=True)
        overwrite = fields.boolean("overwrite")
        return fields.problems or (op, src, dst, overwrite)
    item = _build(line, op, fields, known_handlers)
    return fields.problems or item


def _build(line: int, op: OpKind, fields: _Fields, known_handlers: Collection[str]) -> PlanItem:
    path = fields.path("path", names_target=True)
    if op is OpKind.TRANSFORM:
        return PlanItem(line, op, path, command=fields.command(), timeout=fields.timeout())
    if op is OpKind.CHECKSUM:
        return PlanItem(line, op, path, algorithm=fields.algorithm())
    if op is OpKind.CALL:
        handler = fields.handler(known_handlers)
        return PlanItem(
            line, op, path, handler=handler, args=fields.args(), timeout=fields.timeout()
        )
    return PlanItem(line, op, path)
