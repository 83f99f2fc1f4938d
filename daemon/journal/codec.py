"""The positional msgpack codec of journal records: ``[tag, field1, field2, ...]``.

A record's payload is a msgpack array: its integer type tag, then its fields in dataclass
field order. :class:`RecordCodec` is built once from the tag → class registry and checks every
registered class up front. Fields of the types below are *direct*: encoded as they are and
decoded block by block, column by column, with C-level loops (``map``/``zip``) so that the per
record cost stays near what msgpack itself needs:

- ``int``, ``float``, ``str``, ``bool``, ``bytes``, each optionally ``| None``;
- an ``enum.Enum`` whose values are all ``int`` or all ``str`` (stored as the value).

Any other field type (tuples, maps, nested dataclasses) makes its record class go through the
protocol's schema codec one record at a time: correct, only slower.

Type checks are exact (``type(value) is int``): a ``bool`` is not an ``int`` here. An ``int``
given for a ``float`` field is stored as a float, so that a record reads back equal.
"""

from __future__ import annotations

import dataclasses
import enum
import threading
import types
import typing
from collections import deque
from collections.abc import Callable, Mapping
from itertools import compress, repeat
from operator import itemgetter
from typing import Any, Final, Generic, TypeVar

import msgpack

from batchd.daemon.journal.format import PayloadError
from batchd.protocol.errors import InvalidArguments
from batchd.protocol.schema import from_wire, to_wire

R = TypeVar("R")

_SCALARS: Final[Mapping[Any, type]] = {int: int, float: float, str: str, bool: bool, bytes: bytes}
_NONE: Final = type(None)
_TUPLE_ONLY: Final = {tuple}
_INT_ONLY: Final = {int}
_first = itemgetter(0)
_new = object.__new__


@dataclasses.dataclass(frozen=True, slots=True)
class _Field:
    """How one field is stored: the exact types allowed on disk, and enum conversions."""

    name: str
    allowed: frozenset[type]
    enum_cls: type[enum.Enum] | None
    members: Mapping[object, enum.Enum | None] | None
    """For an enum field: stored value → member (and None → None if optional)."""


def _direct_field(name: str, annotation: Any) -> _Field | None:
    """The direct description of a field, or None if it needs the schema codec."""
    optional = False
    if typing.get_origin(annotation) in (types.UnionType, typing.Union):
        args = typing.get_args(annotation)
        inner = [arg for arg in args if arg is not _NONE]
        if len(inner) != 1 or len(args) != 2:
            return None
        annotation, optional = inner[0], True
    none: set[type] = {_NONE} if optional else set()
    if annotation in _SCALARS:
        return _Field(name, frozenset({_SCALARS[annotation], *none}), None, None)
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        value_types = {type(member.value) for member in annotation}
        if value_types in ({int}, {str}):
            members: dict[object, enum.Enum | None] = {m.value: m for m in annotation}
            if optional:
                members[None] = None
            return _Field(name, frozenset(value_types | none), annotation, members)
    return None


def _memory_types(field: _Field) -> frozenset[type]:
    """The exact types a field may hold in a record (an enum field holds members)."""
    if field.enum_cls is None:
        return field.allowed
    return frozenset({field.enum_cls, *(field.allowed & {_NONE})})


class _RecordShape(Generic[R]):
    """Everything the codec knows about one registered record class."""

    def __init__(self, tag: int, cls: type[R]) -> None:
        if not (dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen):  # type: ignore[attr-defined]
            raise TypeError(f"journal record {cls.__name__} must be a frozen dataclass")
        if "__slots__" not in cls.__dict__:
            raise TypeError(f"journal record {cls.__name__} must be slotted (slots=True)")
        fields = dataclasses.fields(cls)
        if not all(field.init for field in fields):
            raise TypeError(f"journal record {cls.__name__} has a field outside __init__")
        hints = typing.get_type_hints(cls)
        self.tag = tag
        self.cls = cls
        self.name = cls.__name__
        self.names = tuple(field.name for field in fields)
        self.arity = len(fields) + 1
        direct = [_direct_field(field.name, hints[field.name]) for field in fields]
        self.fields: tuple[_Field, ...] | None = None
        if all(direct) and not hasattr(cls, "__post_init__"):
            self.fields = tuple(typing.cast(list[_Field], direct))
        self.plain = self.fields is not None and not any(f.members for f in self.fields)
        """Records of this shape are stored field for field, without conversion."""
        # Slot descriptors set attributes of a frozen instance without its __init__.
        self.setters = tuple(cls.__dict__[name].__set__ for name in self.names)

    def encode_fields(self, record: object) -> tuple[Any, ...]:
        """The stored field values of ``record``, checked; raises TypeError."""
        if self.fields is None:
            wire = to_wire(record)
            return tuple(wire[name] for name in self.names)
        values = self._coerce(tuple(getattr(record, name) for name in self.names))
        return tuple(map(self._enum_value, self.fields, values))

    def _enum_value(self, field: _Field, value: Any) -> Any:
        if field.enum_cls is None or value is None:
            return value
        if type(value) is not field.enum_cls:
            raise TypeError(
                f"{self.name}.{field.name} must be a {field.enum_cls.__name__} to be journaled, "
                f"not {type(value).__name__}"
            )
        return value.value

    def _coerce(self, values: tuple[Any, ...]) -> tuple[Any, ...]:
        assert self.fields is not None
        out: list[Any] = []
        for field, value in zip(self.fields, values, strict=True):
            if type(value) in _memory_types(field):
                out.append(value)
            elif float in field.allowed and type(value) is int:
                out.append(float(value))
            else:
                names = " | ".join(sorted(t.__name__ for t in _memory_types(field)))
                raise TypeError(
                    f"{self.name}.{field.name} must be {names} to be journaled, "
                    f"not {type(value).__name__}"
                )
        return tuple(out)

    def build(self, objs: list[tuple[Any, ...]]) -> list[R]:
        """Records from decoded arrays that all carry this shape's tag; raises PayloadError."""
        if set(map(len, objs)) != {self.arity}:
            raise self.explain(objs)
        if self.fields is None:
            return list(map(self.build_one, objs))
        columns = zip(*objs, strict=True)
        next(columns)  # the tags
        records: list[R] = list(map(_new, repeat(self.cls, len(objs))))
        for field, setter, column in zip(self.fields, self.setters, columns, strict=True):
            if not field.allowed.issuperset(map(type, column)):
                raise self.explain(objs)
            stored: Any = column
            if field.members is not None:
                try:
                    stored = list(map(field.members.__getitem__, column))
                except KeyError:
                    raise self.explain(objs) from None
            deque(map(setter, records, stored), 0)
        return records

    def build_one(self, obj: tuple[Any, ...]) -> R:
        """One record from one decoded array with this shape's tag; raises PayloadError."""
        if len(obj) != self.arity:
            raise PayloadError(
                f"{self.name} record has {len(obj) - 1} fields, expected {self.arity - 1}",
                unsupported=False,
            )
        if self.fields is None:
            try:
                return from_wire(self.cls, dict(zip(self.names, obj[1:], strict=True)), self.name)
            except InvalidArguments as error:
                raise PayloadError(
                    f"bad {self.name} record: {error.message}", unsupported=False
                ) from None
        values: list[Any] = []
        for field, value in zip(self.fields, obj[1:], strict=True):
            if type(value) not in field.allowed:
                names = " | ".join(sorted(t.__name__ for t in field.allowed))
                raise PayloadError(
                    f"bad {self.name} record: field {field.name!r} is "
                    f"{type(value).__name__}, expected {names}",
                    unsupported=False,
                )
            if field.members is None:
                values.append(value)
            elif value in field.members:
                values.append(field.members[value])
            else:
                raise PayloadError(
                    f"bad {self.name} record: field {field.name!r} has unknown value {value!r}",
                    unsupported=False,
                )
        return self.cls(*values)

    def explain(self, objs: list[tuple[Any, ...]]) -> PayloadError:
        """The error for the first bad array of ``objs`` (the slow path after a failed check)."""
        for index, obj in enumerate(objs):
            try:
                self.build_one(obj)
            except PayloadError as error:
                error.index = index
                return error
        return PayloadError(f"bad {self.name} records", unsupported=False)


class RecordCodec(Generic[R]):
    """Encodes records as positional msgpack arrays and decodes them a block at a time."""

    def __init__(self, registry: Mapping[int, type[R]]) -> None:
        """``registry`` maps each tag (an int, 0..2**16) to its frozen slotted dataclass."""
        self._by_tag: dict[int, _RecordShape[R]] = {}
        self._by_class: dict[type, _RecordShape[R]] = {}
        for tag, cls in registry.items():
            if type(tag) is not int or not 0 <= tag < 2**16:
                raise TypeError(f"record tag {tag!r} of {cls.__name__} is not an int in 0..65535")
            if cls in self._by_class:
                raise TypeError(f"{cls.__name__} is registered twice")
            shape = _RecordShape(tag, cls)
            self._by_tag[tag] = shape
            self._by_class[cls] = shape
        self._local = threading.local()
        self._encoders = {cls: self._encoder(shape) for cls, shape in self._by_class.items()}

    def encode(self, record: R) -> bytes:
        """The msgpack payload of ``record``; raises TypeError for unregistered or bad records."""
        try:
            encoder = self._encoders[type(record)]
        except KeyError:
            raise TypeError(f"{type(record).__name__} is not registered in RECORD_TYPES") from None
        return encoder(record)

    def _encoder(self, shape: _RecordShape[R]) -> Callable[[R], bytes]:
        """The encode function of one record class; this runs once per append, so for a plain
        class it is generated code (as dataclasses does) checking each field's exact type."""
        local = self._local

        def packer() -> Callable[[object], bytes]:
            try:
                pack: Callable[[object], bytes] = local.pack
            except AttributeError:
                # A Packer keeps a buffer between calls: one per thread, reused.
                pack = local.pack = msgpack.Packer().pack
            return pack

        def encode_checked(record: R) -> bytes:
            return packer()((shape.tag, *shape.encode_fields(record)))

        if not shape.plain or shape.fields is None:
            return encode_checked
        names = [f"v{index}" for index in range(len(shape.fields))]
        namespace: dict[str, Any] = {"local": local, "packer": packer, "slow": encode_checked}
        checks = []
        for index, (name, field) in enumerate(zip(names, shape.fields, strict=True)):
            alternatives = []
            for kind in sorted(field.allowed, key=lambda kind: kind.__name__):
                if kind is _NONE:
                    alternatives.append(f"{name} is None")
                else:
                    namespace[f"T{index}_{kind.__name__}"] = kind
                    alternatives.append(f"type({name}) is T{index}_{kind.__name__}")
            checks.append("(" + " or ".join(alternatives) + ")")
        loads = "".join(
            f"    {name} = record.{field.name}\n"
            for name, field in zip(names, shape.fields, strict=True)
        )
        source = (
            "def encode(record):\n"
            f"{loads}"
            f"    if {' and '.join(checks) or 'True'}:\n"
            "        try:\n"
            "            pack = local.pack\n"
            "        except AttributeError:\n"
            "            pack = packer()\n"
            f"        return pack(({shape.tag}, {''.join(name + ', ' for name in names)}))\n"
            "    return slow(record)\n"
        )
        exec(source, namespace)  # the source is built above from field names and types
        encode: Callable[[R], bytes] = namespace["encode"]
        return encode

    def decode(self, obj: Any) -> R:
        """One record from one unpacked payload; raises PayloadError."""
        return self._shape_of(obj).build_one(obj)

    def decode_block(self, objs: list[Any]) -> list[R]:
        """The records of one block from its unpacked payloads, in order; raises PayloadError.

        The checks (array, int tag, known tag, arity, field types) run over whole columns;
        only after one fails does a slow path look for the first bad record to name it.
        """
        if not objs:
            return []
        if set(map(type, objs)) != _TUPLE_ONLY or not all(objs):
            raise self._explain(objs)
        tags = list(map(_first, objs))
        kinds = set(tags)
        # The types of every tag, not of the set: {1, True} == {1}.
        if set(map(type, tags)) != _INT_ONLY or not kinds.issubset(self._by_tag):
            raise self._explain(objs)
        if len(kinds) == 1:
            return self._by_tag[tags[0]].build(objs)
        out: list[Any] = [None] * len(objs)
        for tag in kinds:
            mask = list(map(tag.__eq__, tags))
            try:
                records = self._by_tag[tag].build(list(compress(objs, mask)))
            except PayloadError as error:
                # Renumber the index within this tag's records to the index in the block.
                error.index = list(compress(range(len(objs)), mask))[error.index]
                raise
            deque(map(out.__setitem__, compress(range(len(objs)), mask), records), 0)
        return out

    def _shape_of(self, obj: Any) -> _RecordShape[R]:
        if not isinstance(obj, tuple | list) or not obj:
            raise PayloadError("payload is not a non-empty array", unsupported=False)
        tag = obj[0]
        if type(tag) is not int:
            raise PayloadError(
                f"payload's record type tag is {type(tag).__name__}, not int", unsupported=False
            )
        shape = self._by_tag.get(tag)
        if shape is None:
            raise PayloadError(
                f"unknown record type tag {tag}: the journal was written by a newer batchd",
                unsupported=True,
            )
        return shape

    def _explain(self, objs: list[Any]) -> PayloadError:
        for index, obj in enumerate(objs):
            try:
                self._shape_of(obj)
            except PayloadError as error:
                error.index = index
                return error
        return PayloadError("bad records", unsupported=False)
