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


def recover(records: Iterable[JournalRecord]) -> DaemonHistory:
    """Fold the journal's records into the daemon's history; streams, keeps no records."""
    starts = 0
    last_start: DaemonStarted | None = None
    stopped_clean = False
    for record in records:
        if isinstance(record, DaemonStarted):
            starts += 1
            last_start = record
            stopped_clean = False
        elif isinstance(record, DaemonStopped):
            stopped_clean = record.clean
    return DaemonHistory(
        starts=starts,
        last_start=last_start,
        last_stop_clean=None if last_start is None else stopped_clean,
    )
