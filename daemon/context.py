"""What command handlers see of the daemon: its settings, paths, clock and journal."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import psutil

from batchd.daemon.config import Config
from batchd.daemon.journal import Journal
from batchd.daemon.journal.recovery import DaemonHistory
from batchd.daemon.paths import DaemonPaths


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

    def uptime(self) -> float:
        """Seconds since start, from the monotonic clock (immune to clock jumps)."""
        return time.monotonic() - self.started_monotonic
