"""Checkpoints of the daemon's folded state, so that the journal stays bounded (journal.md,
"Checkpoints, retention"; docs/journal-format.md, "Checkpoints").

A checkpoint is what the recovery folds make of the journal up to an LSN: the
:class:`DaemonHistory` and every :class:`RecoveredBatch` (ended ones too: rollback needs their
per-item states). The daemon keeps a :class:`StateFold` running, fed every appended record, so
writing a checkpoint is: hold appends, commit and rotate the journal, encode the fold, write
the file durably, then delete what is no longer needed. Two checkpoints are kept, the newest and
the previous one, and segments are deleted only up to the *previous* one's LSN: if the newest
is found damaged at start, the previous one plus the segments after it still recover exactly.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import msgpack

from batchd.daemon.batches.recovery import BatchesFold, RecoveredBatch, fingerprint_or_none
from batchd.daemon.journal import Journal
from batchd.daemon.journal.checkpoints import CheckpointFiles
from batchd.daemon.journal.errors import CheckpointCorrupt, UnsupportedCheckpoint
from batchd.daemon.journal.records import (
    BatchCreated,
    DaemonStarted,
    DaemonStopped,
    ItemDone,
    ItemIntent,
    JournalRecord,
)
from batchd.daemon.journal.recovery import DaemonHistory, HistoryFold

log = logging.getLogger(__name__)

CHECKPOINTS_DIR: Final = "checkpoints"
"""Subdirectory of the state directory that holds the checkpoint files."""
CHECKPOINT_RECORDS: Final = 500_000
"""Default: write a checkpoint once this many records were appended since the last one."""
CHECKPOINT_INTERVAL: Final = 300.0
"""Default: write a checkpoint once this many seconds passed since the last one (if any
record was appended)."""

_NO_FINGERPRINT: Final = (0, 0, 0, 0, 0)
_HISTORY_RECORDS: Final = frozenset({DaemonStarted, DaemonStopped})


@dataclass(frozen=True, slots=True)
class FoldedState:
    """The state of the journal's records up to and including ``lsn``."""

    lsn: int
    history: DaemonHistory
    batches: dict[int, RecoveredBatch]


def encode_state(history: DaemonHistory, batches: Mapping[int, RecoveredBatch]) -> bytes:
    """The checkpoint body: msgpack ``[history, [batch, ...]]``, per-item arrays as raw bytes."""
    start = history.last_start
    body: bytes = msgpack.packb(
        [
            [
                history.starts,
                None if start is None else [start.pid, start.time, start.version],
                bool(history.last_stop_clean),
            ],
            [_encode_batch(batch) for _, batch in sorted(batches.items())],
        ],
        use_bin_type=True,
    )
    return body


def _encode_batch(batch: RecoveredBatch) -> list[Any]:
    batch.settle()
    created = batch.created
    expected = [
        [index, *(_NO_FINGERPRINT if fp is None else fp.to_row())]
        for index, fp in sorted(batch.expected.items())
    ]
    return [
        [created.batch, created.name, created.total, created.priority, created.time],
        bytes(batch.states),
        bytes(batch.attempts),
        expected,
        sorted(batch.interrupted),
        [[index, error] for index, error in sorted(batch.errors.items())],
        batch.ended,
        batch.paused,
        batch.cancelled,
        batch.ended_time,
        batch.rollback_of,
        batch.purged_at,
        batch.submitted_by,
    ]


def decode_state(body: bytes | memoryview) -> tuple[DaemonHistory, dict[int, RecoveredBatch]]:
    """Decode a checkpoint body; raises ValueError (or TypeError) for one that does not fit."""
    (starts, start, stopped_clean), encoded = msgpack.unpackb(
        body, use_list=True, raw=False, strict_map_key=False
    )
    last_start = None if start is None else DaemonStarted(int(start[0]), float(start[1]), start[2])
    history = DaemonHistory(
        starts=starts,
        last_start=last_start,
        last_stop_clean=None if last_start is None else bool(stopped_clean),
    )
    batches: dict[int, RecoveredBatch] = {}
    for encoded_row in encoded:
        # older checkpoints lack the later fields: nine (no history fields) or twelve
        later: list[object] = [None, [], None, ""]  # ended_time, rollback_of, purged_at, by
        row = [*encoded_row, *later[len(encoded_row) - 9 :]]
        (
            created,
            states,
            attempts,
            expected,
            interrupted,
            errors,
            ended,
            paused,
            cancelled,
            ended_time,
            rollback_of,
            purged_at,
            submitted_by,
        ) = row
        record = BatchCreated(*created)
        if len(states) != record.total or len(attempts) != record.total:
            raise ValueError(f"batch {record.batch} has arrays of the wrong length")
        batches[record.batch] = RecoveredBatch(
            created=record,
            states=bytearray(states),
            attempts=bytearray(attempts),
            expected={row[0]: fingerprint_or_none(*row[1:]) for row in expected},
            interrupted=set(interrupted),
            errors={index: error for index, error in errors},
            ended=ended,
            paused=bool(paused),
            cancelled=bool(cancelled),
            ended_time=ended_time,
            rollback_of=[int(target) for target in rollback_of],
            purged_at=purged_at,
            submitted_by=submitted_by,
        )
    return history, batches


class StateFold:
    """The recovery folds (daemon history and batches) as one, fed record by record."""

    def __init__(self, start: FoldedState | None = None) -> None:
        self.history = HistoryFold(None if start is None else start.history)
        self.batches = BatchesFold(None if start is None else start.batches)
        # The hot path of every append: item records go straight to their handler.
        self._item_handlers: dict[type[JournalRecord], Callable[[Any], None]] = {
            ItemDone: self.batches.apply_done,
            ItemIntent: self.batches.apply_intent,
        }

    def apply(self, record: JournalRecord) -> None:
        """Fold one record in (a few dict and array operations for an item record)."""
        handler = self._item_handlers.get(type(record))
        if handler is not None:
            handler(record)
            return
        self.batches.apply(record)
        if type(record) in _HISTORY_RECORDS:
            self.history.apply(record)

    def observe(self, records: Iterable[JournalRecord]) -> Iterator[JournalRecord]:
        """Fold each record in while passing it on."""
        for record in records:
            self.apply(record)
            yield record

    def replay(self, records: Iterable[JournalRecord]) -> DaemonHistory:
        """Fold every record in (the fold ``Journal.open`` runs); returns the history."""
        for record in records:
            self.apply(record)
        return self.history.history

    def encode(self) -> bytes:
        """The checkpoint body of the state folded so far."""
        return encode_state(self.history.history, self.batches.batches)


def load_checkpoint(files: CheckpointFiles) -> FoldedState | None:
    """The newest checkpoint that verifies and decodes; a damaged one is skipped (logged) in
    favour of the previous one. Raises UnsupportedCheckpoint for a newer format version."""
    for _, path in reversed(files.list()):
        try:
            lsn, body = files.read(path)
            history, batches = decode_state(body)
        except UnsupportedCheckpoint:
            raise
        except (CheckpointCorrupt, ValueError, TypeError, msgpack.UnpackException) as error:
            log.warning("checkpoint %s is unusable, trying an older one: %s", path, error)
            continue
        log.info("state loaded from checkpoint %s (LSN %d, %d batches)", path, lsn, len(batches))
        return FoldedState(lsn, history, batches)
    return None


class Checkpointer:
    """Writes checkpoints of the live fold and deletes the checkpoints and segments that are no
    longer needed."""

    def __init__(
        self,
        journal: Journal,
        files: CheckpointFiles,
        fold: StateFold,
        *,
        last_lsn: int,
        every_records: int = CHECKPOINT_RECORDS,
        every_seconds: float = CHECKPOINT_INTERVAL,
        now: float | None = None,
        before_write: Callable[[], None] = lambda: None,
    ) -> None:
        self.journal = journal
        self.before_write = before_write
        """Called before a checkpoint is written (the engine syncs its results logs: the
        segments the checkpoint lets go must not hold the only copy of a result)."""
        self.files = files
        self.fold = fold
        self.every_records = every_records
        self.every_seconds = every_seconds
        self.last_lsn = last_lsn
        """LSN of the newest valid checkpoint (the one loaded at start, then each written)."""
        self._last_time = time.monotonic() if now is None else now

    def due(self, now: float) -> bool:
        """Whether enough records or time went by since the last checkpoint."""
        new = self.journal.durable_lsn - self.last_lsn
        if new >= self.every_records:
            return True
        return new > 0 and now - self._last_time >= self.every_seconds

    def write_if_due(self, now: float) -> None:
        """Write a checkpoint when one is due; a failure to write the file (say ENOSPC) is
        logged and tried again an interval later: the journal still holds everything."""
        if self.due(now):
            self.write_or_log(now=now)

    def write_or_log(self, *, rotate: bool = True, now: float | None = None) -> None:
        """:meth:`write`, logging an OSError instead of raising it (journal errors propagate)."""
        try:
            self.write(rotate=rotate, now=now)
        except OSError as error:
            self._last_time = time.monotonic() if now is None else now
            log.error(
                "writing a checkpoint to %s failed (%s); the journal keeps every record and "
                "the next checkpoint is tried in %g s",
                self.files.directory,
                error,
                self.every_seconds,
            )

    def write(self, *, rotate: bool = True, now: float | None = None) -> int:
        """Write a checkpoint at the durable LSN, keep it and the previous one, delete older
        checkpoints and the segments the previous one covers; returns the new LSN.

        ``rotate`` starts a new segment first so the checkpoint covers whole segments; at
        shutdown it is not needed (the next start opens a new segment anyway).
        """
        journal = self.journal
        self.before_write()
        with journal.holding_appends():
            lsn = journal.rotate() if rotate else journal.commit()
            body = self.fold.encode()
        previous = self.last_lsn
        if lsn == previous:
            return lsn
        self.files.write(lsn, body)
        self.last_lsn = lsn
        self._last_time = time.monotonic() if now is None else now
        self.files.remove_except({lsn, previous})
        dropped = journal.drop_segments_through(previous)
        log.info(
            "checkpoint at LSN %d written (%d bytes); %d journal segment(s) up to LSN %d deleted",
            lsn,
            len(body),
            dropped,
            previous,
        )
        return lsn


def checkpoint_files(state_dir: Path) -> CheckpointFiles:
    """The checkpoint directory of a state directory."""
    return CheckpointFiles(state_dir / CHECKPOINTS_DIR)
