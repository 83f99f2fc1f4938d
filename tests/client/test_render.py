"""Formatting of batchctl's output: pure functions, no sockets."""

from __future__ import annotations

import dataclasses
import enum
import json

import pytest

from batchd.client.render import aligned, duration, json_document, size, to_jsonable


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.0, "0.0 s"),
        (42.04, "42.0 s"),
        (185.0, "3m 05s"),
        (7385.9, "2h 03m 05s"),
        (4 * 86400 + 7385, "4d 02h 03m"),
    ],
)
def test_duration(seconds: float, text: str) -> None:
    assert duration(seconds) == text


@pytest.mark.parametrize(
    ("count", "text"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (47_400_000, "45.2 MiB"),
        (3 * 1024**4, "3.0 TiB"),
        (5 * 1024**5, "5120.0 TiB"),
    ],
)
def test_size(count: int, text: str) -> None:
    assert size(count) == text


def test_aligned_puts_values_in_one_column() -> None:
    assert aligned([("a", "1"), ("longer key", "2")]) == "a:          1\nlonger key: 2"
    assert aligned([]) == ""


class Colour(enum.Enum):
    RED = "red"


@dataclasses.dataclass(frozen=True, slots=True)
class Inner:
    colour: Colour
    blob: bytes


@dataclasses.dataclass(frozen=True, slots=True)
class Outer:
    name: str
    items: tuple[Inner, ...]
    extra: dict[str, object]
    maybe: float | None


def test_to_jsonable_turns_enums_into_values_and_tuples_into_lists() -> None:
    value = Outer("x", (Inner(Colour.RED, b"\x01\xff"),), {"k": (1, 2)}, None)
    assert to_jsonable(value) == {
        "name": "x",
        "items": [{"colour": "red", "blob": "01ff"}],
        "extra": {"k": [1, 2]},
        "maybe": None,
    }
    assert json.loads(json_document(value)) == to_jsonable(value)
