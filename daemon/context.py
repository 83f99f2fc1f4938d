"""What command handlers see of the daemon: its settings, paths, clock and journal."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psutil

from batchd.daemon.batches.engine import BatchEngine
from batchd.daemon.config import Config
from batchd.daemon.journal import Journal
from batchd.daemon.journal.recovery import DaemonHistory
from batchd.daemon.paths import DaemonPaths
from batchd.daemon.rollback.coordinator import Rollbacks
from batchd.daemon.rollback.purging import Purger
from batchd.protocol.errors import Unavailable


@dataclass
class DaemonContext:
    """Live state shared by the loop and the handlers (one per daemon process)."""

    config: Config
    paths: DaemonPaths
    journal: Journal
    history: DaemonHistory
    started_at: float = field(default_factory=time.time)
    started_monotonic: float = field(default_factory=time.monotonic)
    process: psutil.Process = field(default_factory=psutil.Process)
    batch_engine: BatchEngine | None = None
    commit_observer: Callable[[float], None] | None = None
    """Told the duration of each journal group commit (set by the metrics exporter)."""
    journal_error: str = ""
    """The last journal write failure while it lasts (say ENOSPC); empty when writes work."""
    rollback_coordinator: Rollbacks | None = None
    undo_purger: Purger | None = None
    worker_processes: dict[int, psutil.Process] = field(default_factory=dict)

    @property
    def engine(self) -> BatchEngine:
        """The batch engine; absent only in a daemon still starting or stopping."""
        if self.batch_engine is None:
            raise Unavailable("the daemon is not running batches right now; retry shortly")
        return self.batch_engine

    @property
    def rollbacks(self) -> Rollbacks:
        """The rollback coordinator (present whenever the engine is)."""
        if self.rollback_coordinator is None:
            raise Unavailable("the daemon is not running batches right now; retry shortly")
        return self.rollback_coordinator

    @property
    def purger(self) -> Purger:
        """Drops undo data (present whenever the engine is)."""
        if self.undo_purger is None:
            raise Unavailable("the daemon is not running batches right now; retry shortly")
        return self.undo_purger

    def uptime(self) -> float:
        """Seconds since start, from the monotonic clock (immune to clock jumps)."""
        return time.monotonic() - self.started_monotonic
