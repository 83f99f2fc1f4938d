"""The batches the daemon knows, by id, with their result logs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from batchd.daemon.batches.batch import Batch
from batchd.daemon.batches.results import ResultsLog
from batchd.protocol.errors import BatchNotFound


class BatchRegistry:
    """Batches in submission order; ids grow and are never reused."""

    def __init__(self, batches_dir: Path) -> None:
        self.batches_dir = batches_dir
        self._batches: dict[int, Batch] = {}
        self._results: dict[int, ResultsLog] = {}
        existing = [int(p.name) for p in batches_dir.glob("*") if p.name.isdigit()]
        self._next_id = max(existing, default=0) + 1

    def reserve_id(self) -> int:
        """A fresh batch id (its directory may be created by the validator)."""
        batch_id = self._next_id
        self._next_id += 1
        return batch_id

    def add(self, batch: Batch) -> None:
        """Register a new batch and open its results log."""
        self._batches[batch.id] = batch
        self._results[batch.id] = ResultsLog(self.directory(batch.id) / "results.bin")

    def directory(self, batch_id: int) -> Path:
        """Where a batch's plan store and results live."""
        return self.batches_dir / str(batch_id)

    def get(self, batch_id: int) -> Batch:
        """A batch by id, or BatchNotFound naming it."""
        batch = self._batches.get(batch_id)
        if batch is None:
            raise BatchNotFound(f"no batch with id {batch_id}", {"batch": batch_id})
        return batch

    def results(self, batch_id: int) -> ResultsLog:
        """A batch's results log."""
        return self._results[batch_id]

    def __iter__(self) -> Iterator[Batch]:
        return iter(self._batches.values())

    def active(self) -> list[Batch]:
        """Batches that have not ended (a cancelled batch ends once its running and
        undecided items are done)."""
        return [b for b in self._batches.values() if b.ended is None]

    def flush(self) -> None:
        """Write buffered result rows of every batch."""
        for log in self._results.values():
            log.flush()

    def sync(self) -> None:
        """Flush and fsync every results log (before a checkpoint lets segments go)."""
        for log in self._results.values():
            log.sync()

    def close(self) -> None:
        """Close every results log and plan store."""
        for log in self._results.values():
            log.close()
        for batch in self._batches.values():
            close = getattr(batch.steps, "close", None)
            if close is not None:
                close()
