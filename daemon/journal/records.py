"""Journal record types and their registration.

A payload is a msgpack array ``[tag, field1, field2, ...]``: the record's integer type tag,
then its fields in dataclass field order (:mod:`batchd.daemon.journal.codec`). Adding a record
type is one line in :data:`RECORD_TYPES` (plus the dataclass). A tag this build does not know
is an error, never skipped: it means a newer batchd wrote the journal.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from batchd.daemon.journal.codec import RecordCodec


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


@dataclass(frozen=True, slots=True)
class BatchCreated(JournalRecord):
    """A validated plan became a batch; its plan store is durable in the batch's directory."""

    batch: int
    name: str
    total: int
    priority: int
    time: float


@dataclass(frozen=True, slots=True)
class BatchEnded(JournalRecord):
    """A batch reached a final state (``state`` is a BatchState value)."""

    batch: int
    state: str
    time: float


@dataclass(frozen=True, slots=True)
class ItemIntent(JournalRecord):
    """INTENT: step ``index`` of ``batch`` is about to run (attempt ``attempt``); what its
    path held before (``ino`` 0: nothing was there). Durable before the step is dispatched,
    so recovery can tell by inode identity whether an interrupted step happened."""

    batch: int
    index: int
    attempt: int
    dev: int
    ino: int
    size: int
    mtime_ns: int
    mode: int


@dataclass(frozen=True, slots=True)
class ItemDone(JournalRecord):
    """DONE: how an attempt of a step ended (``state`` is an ItemState code: completed,
    failed, or retry_wait) and what it left at its target (``ino`` 0: nothing; ``digest``:
    the content digest of a small regular file, else empty)."""

    batch: int
    index: int
    state: int
    attempts: int
    error: str
    result: str
    dev: int
    ino: int
    size: int
    mtime_ns: int
    mode: int
    digest: bytes


@dataclass(frozen=True, slots=True)
class BatchControl(JournalRecord):
    """A user paused, resumed, cancelled or retried a batch (``action`` names which)."""

    batch: int
    action: str
    time: float


@dataclass(frozen=True, slots=True)
class RollbackOf(JournalRecord):
    """Batch ``batch`` (journaled just before, with its plan store of undo steps) rolls back
    batch ``target``; one record per target, newest target first."""

    batch: int
    target: int
    time: float


@dataclass(frozen=True, slots=True)
class BatchPurged(JournalRecord):
    """The undo data of ``batch`` was dropped (by ``purge`` or the retention policy); the
    batch can no longer be rolled back. Replaying it removes whatever is left again."""

    batch: int
    time: float


@dataclass(frozen=True, slots=True)
class BatchSubmittedBy(JournalRecord):
    """Who asked for batch ``batch`` (a plan's submitter, or a rollback's requester), as the
    transport told: ``uid 1000 (pid 4242)``, a CURVE client key, or a connection."""

    batch: int
    who: str


RECORD_TYPES: Final[Mapping[int, type[JournalRecord]]] = {
    1: DaemonStarted,
    2: DaemonStopped,
    3: BatchCreated,
    4: BatchEnded,
    5: ItemIntent,
    6: ItemDone,
    7: BatchControl,
    8: RollbackOf,
    9: BatchPurged,
    10: BatchSubmittedBy,
}
"""Tag → record class. The tags are part of the on-disk format: never reuse or renumber one.
Tags below 128 take one byte on disk."""

CODEC: Final = RecordCodec(RECORD_TYPES)
"""The codec of every registered record type."""


encode_record: Final[Callable[[JournalRecord], bytes]] = CODEC.encode
"""The msgpack payload of a record; raises TypeError for unregistered or mistyped ones."""

decode_record: Final[Callable[[Any], JournalRecord]] = CODEC.decode
"""Build a record from one unpacked payload; raises PayloadError."""

decode_records: Final[Callable[[list[Any]], list[JournalRecord]]] = CODEC.decode_block
"""Build the records of one block from its unpacked payloads; raises PayloadError."""
