"""Recovery: a pure fold from journal records to the state the daemon resumes from."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from batchd.daemon.journal.records import DaemonStarted, DaemonStopped, JournalRecord


@dataclass(frozen=True, slots=True)
class DaemonHistory:
    """What the journal says about earlier runs of the daemon.

    ``last_stop_clean`` is None when no run started before, True when the last run ended with
    a clean ``DaemonStopped``, and False when it crashed or stopped on an error.
    """

    starts: int
    last_start: DaemonStarted | None
    last_stop_clean: bool | None


class HistoryFold:
    """Folds records into a :class:`DaemonHistory`, one at a time, from a seeded history."""

    def __init__(self, initial: DaemonHistory | None = None) -> None:
        self.starts = 0 if initial is None else initial.starts
        self.last_start = None if initial is None else initial.last_start
        self.stopped_clean = bool(initial is not None and initial.last_stop_clean)

    def apply(self, record: JournalRecord) -> None:
        """Fold one record in (records of other kinds are ignored)."""
        if isinstance(record, DaemonStarted):
            self.starts += 1
            self.last_start = record
            self.stopped_clean = False
        elif isinstance(record, DaemonStopped):
            self.stopped_clean = record.clean

    @property
    def history(self) -> DaemonHistory:
        """The history folded so far."""
        return DaemonHistory(
            starts=self.starts,
            last_start=self.last_start,
            last_stop_clean=None if self.last_start is None else self.stopped_clean,
        )


def recover(
    records: Iterable[JournalRecord], initial: DaemonHistory | None = None
) -> DaemonHistory:
    """Fold the journal's records into the daemon's history (continuing ``initial``, the
    history a checkpoint holds); streams, keeps no records."""
    fold = HistoryFold(initial)
    for record in records:
        if isinstance(record, DaemonStarted | DaemonStopped):
            fold.apply(record)
    return fold.history
