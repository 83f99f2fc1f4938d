"""Shared hypothesis strategies for the protocol tests, built from the message annotations.

The strategies mirror ``batchd.protocol.schema``: one strategy per supported annotation, so a new
message class (or a new field) is covered without touching the tests. An annotation the builder
does not know fails loudly, which means the schema grew and these strategies must grow with it.
Test modules reach the builder through the session fixture ``wire_strategy`` (pytest's
importlib mode does not let test modules import each other).
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections.abc import Callable, Iterator
from functools import cache
from typing import Any

import pytest
from hypothesis import strategies as st

from batchd.protocol.events import EVENTS
from batchd.protocol.messages import COMMANDS

MSGPACK_INT_MIN = -(2**63)
MSGPACK_INT_MAX = 2**64 - 1

WireStrategy = Callable[[Any], st.SearchStrategy[Any]]


@cache
def msgpack_values(*, decodable: bool = False, max_leaves: int = 20) -> st.SearchStrategy[object]:
    """Values msgpack can carry: nested maps/arrays of ints, floats, str, bin, nil, bool.

    With ``decodable``, only what the codec's unpacker gives back unchanged: map keys are str or
    bin (it refuses others) and floats are never NaN (NaN never equals itself).
    """
    scalars = (
        st.none()
        | st.booleans()
        | st.integers(MSGPACK_INT_MIN, MSGPACK_INT_MAX)
        | st.floats(allow_nan=not decodable)
        | st.text()
        | st.binary()
    )
    keys = st.text() | st.binary()
    if not decodable:
        keys |= st.none() | st.booleans() | st.integers(-(2**31), 2**31) | st.floats()
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=5) | st.dictionaries(keys, inner, max_size=5),
        max_leaves=max_leaves,
    )


@cache
def strategy_for(annotation: Any) -> st.SearchStrategy[Any]:
    """A strategy of valid Python values for one field annotation of a protocol message."""
    simple: dict[object, st.SearchStrategy[Any]] = {
        bool: st.booleans(),
        int: st.integers(MSGPACK_INT_MIN, MSGPACK_INT_MAX),
        # NaN never equals itself, so it cannot take part in a round-trip equality check.
        float: st.floats(allow_nan=False),
        str: st.text(),
        bytes: st.binary(),
        object: msgpack_values(decodable=True),
        Any: msgpack_values(decodable=True),
    }
    if annotation in simple:
        return simple[annotation]
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (types.UnionType, typing.Union):
        (inner,) = (a for a in args if a is not type(None))
        return st.none() | strategy_for(inner)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return st.lists(strategy_for(args[0]), max_size=4).map(tuple)
    if origin is dict and args[0] is str:
        return st.dictionaries(st.text(), strategy_for(args[1]), max_size=4)
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return st.sampled_from(list(annotation))
    if isinstance(annotation, type) and dataclasses.is_dataclass(annotation):
        hints = typing.get_type_hints(annotation)
        fields = {f.name: strategy_for(hints[f.name]) for f in dataclasses.fields(annotation)}
        return st.builds(annotation, **fields)
    raise TypeError(f"no test strategy for annotation {annotation!r}; extend conftest.py")


def nested_dataclasses(cls: type) -> Iterator[type]:
    """``cls`` and every dataclass reachable through its field annotations."""
    yield cls
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        stack = [hints[f.name]]
        while stack:
            annotation = stack.pop()
            stack.extend(typing.get_args(annotation))
            if isinstance(annotation, type) and dataclasses.is_dataclass(annotation):
                yield from nested_dataclasses(annotation)


def all_wire_classes() -> list[type]:
    """Every dataclass that appears on the wire: requests, replies, events and their parts."""
    roots = [c.request for c in COMMANDS.values()] + [c.reply for c in COMMANDS.values()]
    roots += list(EVENTS.values())
    seen: dict[type, None] = {}
    for root in roots:
        for cls in nested_dataclasses(root):
            seen.setdefault(cls)
    return list(seen)


@pytest.fixture(scope="session")
def wire_strategy() -> WireStrategy:
    """The annotation -> strategy builder (session-scoped so hypothesis tests may use it)."""
    return strategy_for


@pytest.fixture(scope="session")
def any_msgpack() -> st.SearchStrategy[object]:
    """A strategy of arbitrary msgpack values."""
    return msgpack_values()


@pytest.fixture(scope="session")
def wire_classes() -> list[type]:
    """Every dataclass that appears on the wire."""
    return all_wire_classes()


@pytest.fixture(scope="session")
def decodable_msgpack() -> st.SearchStrategy[object]:
    """A strategy of msgpack values that the codec's unpacker accepts and returns unchanged."""
    return msgpack_values(decodable=True)
