"""Strict conversion between message dataclasses and plain msgpack values.

Field types come from the dataclass annotations. Decoding accepts exactly what the annotation
says (an ``int`` field refuses ``True``; a ``float`` field also takes an integer), refuses
unknown and missing fields, and reports the path of the first bad value. Supported
annotations: ``bool``, ``int``, ``float``, ``str``, ``bytes``, ``X | None``, ``tuple[X, ...]``
(a wire array), ``dict[str, X]`` (a wire map), a ``str``-valued ``enum.Enum``, a nested
dataclass, and ``object`` (any msgpack value, already bounded by the unpacker's limits).
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any, TypeVar

from batchd.protocol.errors import InvalidArguments, clip

T = TypeVar("T")

_Decoder = Callable[[object, str], object]
_Encoder = Callable[[object], object]


def to_wire(message: object) -> dict[str, object]:
    """Turn a message dataclass into a msgpack-ready dict."""
    encoded = _encoder_for(typing.cast(Any, type(message)))(message)
    assert isinstance(encoded, dict)
    return encoded


def from_wire(cls: type[T], value: object, where: str = "") -> T:
    """Build a message dataclass from a decoded msgpack value; raises InvalidArguments."""
    result = _decoder_for(typing.cast(Any, cls))(value, where or cls.__name__)
    assert isinstance(result, cls)
    return result


def _fail(where: str, expected: str, value: object) -> InvalidArguments:
    return InvalidArguments(
        f"{where}: expected {expected}, got {_describe(value)}",
        {"field": where, "expected": expected},
    )


def _describe(value: object) -> str:
    if value is None:
        return "nil"
    return type(value).__name__


def _decode_bool(value: object, where: str) -> object:
    if isinstance(value, bool):
        return value
    raise _fail(where, "bool", value)


def _decode_int(value: object, where: str) -> object:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise _fail(where, "int", value)


def _decode_float(value: object, where: str) -> object:
    if isinstance(value, float):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    raise _fail(where, "float", value)


def _decode_str(value: object, where: str) -> object:
    if isinstance(value, str):
        return value
    raise _fail(where, "str", value)


def _decode_bytes(value: object, where: str) -> object:
    if isinstance(value, bytes):
        return value
    raise _fail(where, "bin", value)


def _decode_any(value: object, where: str) -> object:
    return value


def _identity(value: object) -> object:
    return value


_SCALAR_DECODERS: dict[object, _Decoder] = {
    bool: _decode_bool,
    int: _decode_int,
    float: _decode_float,
    str: _decode_str,
    bytes: _decode_bytes,
    object: _decode_any,
    Any: _decode_any,
}


@cache
def _decoder_for(annotation: Any) -> _Decoder:
    if annotation in _SCALAR_DECODERS:
        return _SCALAR_DECODERS[annotation]
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (types.UnionType, typing.Union):
        return _optional_decoder(annotation, args)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return _tuple_decoder(_decoder_for(args[0]))
    if origin is dict and args[0] is str:
        return _dict_decoder(_decoder_for(args[1]))
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return _enum_decoder(annotation)
    if isinstance(annotation, type) and dataclasses.is_dataclass(annotation):
        return _dataclass_decoder(annotation)
    raise TypeError(f"unsupported annotation in a protocol message: {annotation!r}")


def _optional_decoder(annotation: Any, args: tuple[Any, ...]) -> _Decoder:
    inner = [a for a in args if a is not type(None)]
    if len(inner) != 1 or len(args) != 2:
        raise TypeError(f"only `X | None` unions are supported, not {annotation!r}")
    decode_inner = _decoder_for(inner[0])

    def decode(value: object, where: str) -> object:
        return None if value is None else decode_inner(value, where)

    return decode


def _tuple_decoder(decode_item: _Decoder) -> _Decoder:
    def decode(value: object, where: str) -> object:
        if not isinstance(value, list | tuple):
            raise _fail(where, "array", value)
        return tuple(decode_item(item, f"{where}[{i}]") for i, item in enumerate(value))

    return decode


def _dict_decoder(decode_value: _Decoder) -> _Decoder:
    def decode(value: object, where: str) -> object:
        if not isinstance(value, dict):
            raise _fail(where, "map", value)
        result: dict[str, object] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise _fail(f"{where} key", "str", key)
            result[key] = decode_value(item, f"{where}.{clip(key)}")
        return result

    return decode


def _enum_decoder(enum_cls: type[enum.Enum]) -> _Decoder:
    allowed = {member.value: member for member in enum_cls}
    names = ", ".join(sorted(str(v) for v in allowed))

    def decode(value: object, where: str) -> object:
        if isinstance(value, str) and value in allowed:
            return allowed[value]
        raise _fail(where, f"one of {names}", value)

    return decode


def _dataclass_decoder(cls: type[Any]) -> _Decoder:
    hints = typing.get_type_hints(cls)
    fields = [f for f in dataclasses.fields(cls) if f.init]
    decoders = {f.name: _decoder_for(hints[f.name]) for f in fields}
    required = {
        f.name
        for f in fields
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }

    def decode(value: object, where: str) -> object:
        if not isinstance(value, dict):
            raise _fail(where, "map", value)
        unknown = [k for k in value if k not in decoders]
        if unknown:
            shown = clip(repr(unknown[0]))
            raise InvalidArguments(
                f"{where}: unknown field {shown}", {"field": f"{where}.{clip(str(unknown[0]))}"}
            )
        missing = sorted(required.difference(value))
        if missing:
            raise InvalidArguments(
                f"{where}: missing field {missing[0]!r}", {"field": f"{where}.{missing[0]}"}
            )
        kwargs = {k: decoders[k](v, f"{where}.{k}") for k, v in value.items()}
        return cls(**kwargs)

    return decode


@cache
def _encoder_for(annotation: Any) -> _Encoder:
    if annotation in _SCALAR_DECODERS:
        return _identity
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (types.UnionType, typing.Union):
        inner = _encoder_for(next(a for a in args if a is not type(None)))
        return lambda value: None if value is None else inner(value)
    if origin is tuple:
        item = _encoder_for(args[0])
        return lambda value: [item(v) for v in typing.cast(tuple[object, ...], value)]
    if origin is dict:
        item = _encoder_for(args[1])
        return lambda value: {
            k: item(v) for k, v in typing.cast(Mapping[str, object], value).items()
        }
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return lambda value: typing.cast(enum.Enum, value).value
    if isinstance(annotation, type) and dataclasses.is_dataclass(annotation):
        return _dataclass_encoder(annotation)
    raise TypeError(f"unsupported annotation in a protocol message: {annotation!r}")


def _dataclass_encoder(cls: type[Any]) -> _Encoder:
    hints = typing.get_type_hints(cls)
    encoders = [(f.name, _encoder_for(hints[f.name])) for f in dataclasses.fields(cls)]

    def encode(value: object) -> object:
        return {name: enc(getattr(value, name)) for name, enc in encoders}

    return encode
