"""What the journal says about batches: a pure fold from records to per-batch state.

Per item it keeps the last DONE state code and attempt count (two bytearrays per batch) and,
for items whose INTENT has no DONE after it, the pre-state fingerprint of the intent: those
steps were interrupted and must be re-run with that fingerprint as the expected pre-state, so
that the op decides by inode identity whether the interrupted run already happened.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from batchd.daemon.batches.batch import CODES
from batchd.daemon.journal.records import (
    BatchControl,
    BatchCreated,
    BatchEnded,
    ItemDone,
    ItemIntent,
    JournalRecord,
)
from batchd.daemon.ops.step import Fingerprint
from batchd.protocol.batch_messages import ItemState

_RETRY_WAIT = CODES[ItemState.RETRY_WAIT]


def fingerprint_or_none(
    dev: int, ino: int, size: int, mtime_ns: int, mode: int
) -> Fingerprint | None:
    """A journaled fingerprint; inode 0 means the path held nothing."""
    return None if ino == 0 else Fingerprint(dev, ino, size, mtime_ns, mode)


@dataclass
class RecoveredBatch:
    """One batch as the journal left it."""

    created: BatchCreated
    states: bytearray
    attempts: bytearray
    expected: dict[int, Fingerprint | None] = field(default_factory=dict)
    """Original pre-state of items not finished for good: interrupted (INTENT without DONE)
    or waiting for a retry. Their next run must converge against it."""
    interrupted: set[int] = field(default_factory=set)
    errors: dict[int, str] = field(default_factory=dict)
    ended: str | None = None
    paused: bool = False
    cancelled: bool = False


class BatchesFold:
    """Applies records one at a time; ``batches`` is the result."""

    def __init__(self) -> None:
        self.batches: dict[int, RecoveredBatch] = {}

    def observe(self, records: Iterable[JournalRecord]) -> Iterator[JournalRecord]:
        """Fold each record in while passing it on (so one pass feeds several folds)."""
        for record in records:
            self.apply(record)
            yield record

    def apply(self, record: JournalRecord) -> None:
        """Fold one record in (records of other kinds are ignored)."""
        if isinstance(record, ItemDone):
            self._done(record)
        elif isinstance(record, ItemIntent):
            batch = self.batches.get(record.batch)
            if batch is not None:
                fingerprint = fingerprint_or_none(
                    record.dev, record.ino, record.size, record.mtime_ns, record.mode
                )
                batch.expected.setdefault(record.index, fingerprint)
                batch.interrupted.add(record.index)
        elif isinstance(record, BatchCreated):
            self.batches[record.batch] = RecoveredBatch(
                record, bytearray(record.total), bytearray(record.total)
            )
        elif isinstance(record, BatchEnded):
            if record.batch in self.batches:
                self.batches[record.batch].ended = record.state
        elif isinstance(record, BatchControl):
            self._control(record)

    def _done(self, record: ItemDone) -> None:
        batch = self.batches.get(record.batch)
        if batch is None:
            return
        batch.states[record.index] = record.state
        batch.attempts[record.index] = min(255, record.attempts)
        batch.interrupted.discard(record.index)
        if record.state != _RETRY_WAIT:
            batch.expected.pop(record.index, None)
        if record.error and record.state == CODES[ItemState.FAILED]:
            batch.errors[record.index] = record.error
        else:
            batch.errors.pop(record.index, None)

    def _control(self, record: BatchControl) -> None:
        batch = self.batches.get(record.batch)
        if batch is None:
            return
        if record.action == "pause":
            batch.paused = True
        elif record.action == "resume":
            batch.paused = False
        elif record.action == "cancel":
            batch.cancelled = True
        elif record.action == "retry":
            batch.ended = None
            failed = CODES[ItemState.FAILED]
            for index, code in enumerate(batch.states):
                if code == failed:
                    batch.states[index] = CODES[ItemState.PENDING]
                    batch.attempts[index] = 0
            batch.errors.clear()
