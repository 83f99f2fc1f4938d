"""Start-up: write the result rows of the DONE records replayed after the checkpoint again.

A row is appended to a batch's ``results.bin`` when its DONE record is journaled, but only
fsynced when a checkpoint is written; after a power loss the journal (fsynced per group) can
hold DONE records whose rows were lost. Rows of records older than the checkpoint are durable
(the checkpointer syncs every results log first), so replaying the records after it and
appending their rows again restores everything; an extra copy of a row changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from batchd.daemon.batches.batch import STATES
from batchd.daemon.batches.recovery import fingerprint_or_none
from batchd.daemon.batches.results import ItemResult, ResultsLog
from batchd.daemon.journal.records import ItemDone, JournalRecord


class ResultsRefill:
    """Appends a row for every ItemDone it sees; ``close`` flushes and syncs the logs."""

    def __init__(self, batches_dir: Path) -> None:
        self.batches_dir = batches_dir
        self._logs: dict[int, ResultsLog | None] = {}
        self.rows = 0

    def observe(self, records: Iterable[JournalRecord]) -> Iterator[JournalRecord]:
        """Pass every record on, appending the rows of DONE records on the way."""
        for record in records:
            if type(record) is ItemDone:
                self._append(record)
            yield record

    def _append(self, done: ItemDone) -> None:
        log = self._log(done.batch)
        if log is None:
            return
        post = fingerprint_or_none(done.dev, done.ino, done.size, done.mtime_ns, done.mode)
        state = STATES[done.state]
        log.append(
            ItemResult(done.index, state, done.attempts, done.error, done.result, "", post,
                       done.digest)
        )  # fmt: skip
        self.rows += 1

    def _log(self, batch: int) -> ResultsLog | None:
        if batch not in self._logs:
            directory = self.batches_dir / str(batch)
            self._logs[batch] = (
                ResultsLog(directory / "results.bin") if directory.is_dir() else None
            )
        return self._logs[batch]

    def close(self) -> None:
        """Write and fsync what was appended, then close the logs."""
        for log in self._logs.values():
            if log is not None:
                log.sync()
                log.close()
        self._logs.clear()
