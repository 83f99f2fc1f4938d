"""Journal record types and their msgpack mapping.

A payload is a msgpack map: the record's fields plus its type tag under :data:`TAG_KEY`.
Adding a record type is one line in :data:`RECORD_TYPES` (plus the dataclass). A tag this
build does not know is an error, never skipped: it means a newer batchd wrote the journal.
Field values are checked strictly with the protocol's schema codec.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import msgpack

from batchd.daemon.journal.format import PayloadError
from batchd.protocol.errors import InvalidArguments
from batchd.protocol.schema import from_wire, to_wire

TAG_KEY: Final = "t"
"""Key of the type tag in every payload map; no record may have a field of this name."""


class JournalRecord:
    """Base of every journal record; subclasses are frozen slotted dataclasses."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class DaemonStarted(JournalRecord):
    """The daemon started and opened the journal."""

    pid: int
    time: float
    version: str


@dataclass(frozen=True, slots=True)
class DaemonStopped(JournalRecord):
    """The daemon stopped; ``clean`` is False when it stopped because of an error."""

    time: float
    clean: bool


RECORD_TYPES: Final[Mapping[str, type[JournalRecord]]] = {
    "daemon_started": DaemonStarted,
    "daemon_stopped": DaemonStopped,
}
"""Tag → record class; the tags are part of the on-disk format and never change meaning."""

_TAG_OF: Final[Mapping[type[JournalRecord], str]] = {cls: t for t, cls in RECORD_TYPES.items()}


def encode_record(record: JournalRecord) -> bytes:
    """The msgpack payload of a record."""
    tag = _TAG_OF.get(type(record))
    if tag is None:
        raise TypeError(f"{type(record).__name__} is not registered in RECORD_TYPES")
    fields = to_wire(record)
    fields[TAG_KEY] = tag
    return msgpack.packb(fields, use_bin_type=True)


def decode_record(payload: Any) -> JournalRecord:
    """Build a record from a decoded payload map; raises PayloadError."""
    if not isinstance(payload, dict):
        raise PayloadError("payload is not a map", unsupported=False)
    fields = dict(payload)
    tag = fields.pop(TAG_KEY, None)
    if not isinstance(tag, str):
        raise PayloadError("payload has no record type tag", unsupported=False)
    cls = RECORD_TYPES.get(tag)
    if cls is None:
        raise PayloadError(
            f"unknown record type {tag!r}: the journal was written by a newer batchd",
            unsupported=True,
        )
    try:
        return from_wire(cls, fields, tag)
    except InvalidArguments as error:
        raise PayloadError(f"bad {tag!r} record: {error.message}", unsupported=False) from None
