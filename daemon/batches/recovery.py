"""What the journal says about batches: a pure fold from records to per-batch state.

Per item it keeps the last DONE state code and attempt count (two bytearrays per batch) and,
for items whose INTENT has no DONE after it, the pre-state fingerprint of the intent: those
steps were interrupted and must be re-run with that fingerprint as the expected pre-state, so
that the op decides by inode identity whether the interrupted run already happened.

The fold can start from a checkpoint's batches (``BatchesFold(initial)``) and runs on in the
daemon, fed every appended record, so that a checkpoint is a copy of its state.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace

from batchd.daemon.batches.batch import CODES
from batchd.daemon.journal.records import (
    BatchControl,
    BatchCreated,
    BatchEnded,
    BatchPurged,
    BatchSubmittedBy,
    ItemDone,
    ItemIntent,
    JournalRecord,
    RollbackOf,
)
from batchd.daemon.ops.step import Fingerprint
from batchd.protocol.batch_messages import ItemState

_RETRY_WAIT = CODES[ItemState.RETRY_WAIT]
_FAILED = CODES[ItemState.FAILED]


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
    ended_time: float | None = None
    rollback_of: list[int] = field(default_factory=list)
    """The batches this one rolls back (a rollback batch), newest first."""
    purged_at: float | None = None
    """When the batch's undo data was dropped."""
    submitted_by: str = ""
    """Who asked for the batch (``uid 1000 (pid 4242)``), when the transport told."""
    intents: dict[int, ItemIntent] = field(default_factory=dict, compare=False, repr=False)
    """The fold's hot path: intents whose fingerprint is not in ``expected`` yet (building a
    Fingerprint per item costs more than the rest of the fold); :meth:`settle` moves them."""

    def settle(self) -> RecoveredBatch:
        """Move the pending intents' fingerprints into ``expected``; returns self."""
        if self.intents:
            for index, intent in self.intents.items():
                self.expected.setdefault(
                    index,
                    fingerprint_or_none(
                        intent.dev, intent.ino, intent.size, intent.mtime_ns, intent.mode
                    ),
                )
            self.intents.clear()
        return self

    def copy(self) -> RecoveredBatch:
        """An independent, settled copy (the arrays and collections are copied)."""
        self.settle()
        return replace(
            self,
            states=bytearray(self.states),
            attempts=bytearray(self.attempts),
            expected=dict(self.expected),
            interrupted=set(self.interrupted),
            errors=dict(self.errors),
            rollback_of=list(self.rollback_of),
            intents={},
        )


class BatchesFold:
    """Applies records one at a time; ``batches`` is the result.

    ``initial`` (e.g. a checkpoint's batches) is the state to continue from; the fold owns
    and changes those objects.
    """

    def __init__(self, initial: Mapping[int, RecoveredBatch] | None = None) -> None:
        self._batches: dict[int, RecoveredBatch] = dict(initial or {})

    @property
    def batches(self) -> dict[int, RecoveredBatch]:
        """Every batch folded so far, settled (``expected`` complete)."""
        for batch in self._batches.values():
            batch.settle()
        return self._batches

    def copy_batches(self) -> dict[int, RecoveredBatch]:
        """An independent copy of every batch (for a checkpoint, or for the engine to own)."""
        return {batch_id: batch.copy() for batch_id, batch in self._batches.items()}

    def observe(self, records: Iterable[JournalRecord]) -> Iterator[JournalRecord]:
        """Fold each record in while passing it on (so one pass feeds several folds)."""
        for record in records:
            self.apply(record)
            yield record

    def apply(self, record: JournalRecord) -> None:
        """Fold one record in (records of other kinds are ignored)."""
        kind = type(record)
        if kind is ItemDone:
            self.apply_done(record)  # type: ignore[arg-type]
        elif kind is ItemIntent:
            self.apply_intent(record)  # type: ignore[arg-type]
        elif isinstance(record, BatchCreated):
            self._batches[record.batch] = RecoveredBatch(
                record, bytearray(record.total), bytearray(record.total)
            )
        elif isinstance(record, BatchEnded):
            if record.batch in self._batches:
                self._batches[record.batch].ended = record.state
                self._batches[record.batch].ended_time = record.time
        elif isinstance(record, BatchControl):
            self._control(record)
        elif isinstance(record, RollbackOf | BatchPurged):
            self._undo_record(record)
        elif isinstance(record, BatchSubmittedBy) and record.batch in self._batches:
            self._batches[record.batch].submitted_by = record.who

    def apply_intent(self, record: ItemIntent) -> None:
        """Fold in an ItemIntent (what :meth:`apply` does for one, without the dispatch)."""
        batch = self._batches.get(record.batch)
        if batch is None:
            return
        index = record.index
        # The first intent's pre-state counts until the item ends for good (retries keep it).
        if index not in batch.expected:
            batch.intents.setdefault(index, record)
        batch.interrupted.add(index)

    def apply_done(self, record: ItemDone) -> None:
        """Fold in an ItemDone (what :meth:`apply` does for one, without the dispatch)."""
        batch = self._batches.get(record.batch)
        if batch is None:
            return
        index = record.index
        batch.states[index] = record.state
        batch.attempts[index] = min(255, record.attempts)
        batch.interrupted.discard(index)
        if record.state != _RETRY_WAIT:
            if batch.expected:
                batch.expected.pop(index, None)
            batch.intents.pop(index, None)
        if record.error and record.state == _FAILED:
            batch.errors[index] = record.error
        elif batch.errors:
            batch.errors.pop(index, None)

    def _undo_record(self, record: RollbackOf | BatchPurged) -> None:
        batch = self._batches.get(record.batch)
        if batch is None:
            return
        if isinstance(record, RollbackOf):
            batch.rollback_of.append(record.target)
        else:
            batch.purged_at = record.time

    def _control(self, record: BatchControl) -> None:
        batch = self._batches.get(record.batch)
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
