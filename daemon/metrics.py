"""Prometheus metrics, optional: the snapshot the exporter serves and how the daemon starts it.

Off unless ``metrics_listen`` is set; then ``prometheus_client`` (the ``metrics`` extra) must be
installed, or the start stops with a :class:`ConfigError` (exit 78). The exporter's HTTP
thread never touches the engine: the main loop copies what it shows into an immutable
:class:`MetricsSnapshot` once a second (``refresh``, from ``run_timers``), and the item
counters and latency histogram are observed on the loop by thread-safe prometheus objects.
The metric names are listed in docs/operations.md, "Metrics".

This module does not import ``prometheus_client``; ``batchd.daemon.metrics_exporter`` does.
"""

from __future__ import annotations

import os
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Final, Protocol

from batchd.daemon.config import Config
from batchd.daemon.context import DaemonContext
from batchd.daemon.errors import ConfigError
from batchd.daemon.metrics_address import parse_metrics_listen
from batchd.protocol.batch_messages import BatchState
from batchd.protocol.messages import LimitActions

REFRESH_INTERVAL: Final = 1.0
"""Seconds between two snapshots (the lag of the gauges behind the daemon's state)."""


@dataclass(frozen=True, slots=True)
class WorkerFigures:
    """One worker slot: its process and the pool's last figures of its tree."""

    slot: int
    pid: int
    state: str
    """``idle``, ``busy``, ``starting`` or ``stopping``."""
    cpu_percent: float | None
    """Percent of one CPU (as ``batchctl stats``); None before the first sample."""
    rss: int | None


@dataclass(frozen=True, slots=True)
class MetricsSnapshot:
    """What the gauges and the journal and limit counters show, as of one loop turn."""

    batches: tuple[tuple[str, int], ...] = tuple((state.value, 0) for state in BatchState)
    workers: tuple[WorkerFigures, ...] = ()
    limit_actions: LimitActions = field(default_factory=lambda: LimitActions(0, 0.0, 0, 0))
    journal_commits: int = 0
    journal_fsyncs: int = 0
    journal_bytes: int = 0
    journal_segments: int = 0
    daemon_rss: int = 0
    uptime: float = 0.0


class Metrics(Protocol):
    """What the main loop does with the exporter."""

    def refresh(self, ctx: DaemonContext, now: float) -> None:
        """Take a new snapshot when the last one is ``REFRESH_INTERVAL`` old."""
        ...


class NoMetrics:
    """Metrics are off (``metrics_listen = ""``): every call does nothing."""

    def refresh(self, ctx: DaemonContext, now: float) -> None:
        """Nothing to refresh."""


NO_METRICS: Final = NoMetrics()


def start_metrics(config: Config, ctx: DaemonContext, cleanup: ExitStack) -> Metrics:
    """Start the exporter ``config`` asks for (stopped by ``cleanup``), or :data:`NO_METRICS`.

    Raises :class:`ConfigError` when prometheus-client is missing or the port is taken.
    """
    if not config.metrics_listen:
        return NO_METRICS
    address = parse_metrics_listen(config.metrics_listen)
    assert address is not None, "validated by the config checks"
    try:
        from batchd.daemon.metrics_exporter import MetricsExporter
    except ImportError as exc:
        raise ConfigError(
            f"metrics_listen is set ({config.metrics_listen!r}) but the Python package "
            f"prometheus-client cannot be imported ({exc}): install batchd with the "
            "'metrics' extra (pip install 'batchd[metrics]') or set metrics_listen = \"\""
        ) from None
    exporter = MetricsExporter(*address)
    exporter.start(ctx)
    cleanup.callback(exporter.stop)
    return exporter


def count_states(states: list[BatchState]) -> tuple[tuple[str, int], ...]:
    """Batches per state, every state listed (0 when none), so series never vanish."""
    counts = Counter(states)
    return tuple((state.value, counts[state]) for state in BatchState)


def take_snapshot(ctx: DaemonContext) -> MetricsSnapshot:
    """Copy what the metrics show out of the live daemon (main loop only)."""
    journal = ctx.journal.counters()
    engine = ctx.batch_engine
    batches = count_states([batch.state for batch in engine.registry]) if engine else ()
    workers: tuple[WorkerFigures, ...] = ()
    actions = LimitActions(0, 0.0, 0, 0)
    if engine is not None:
        cpus = os.cpu_count() or 1
        workers = tuple(
            WorkerFigures(
                slot,
                info.pid,
                info.state.value,
                None if info.cpu_percent is None else info.cpu_percent * cpus,
                info.rss,
            )
            for slot, info in enumerate(engine.executor.workers())
        )
        counters = getattr(engine.executor, "limit_counters", None)
        if counters is not None:
            found = counters()
            actions = LimitActions(
                found.cpu_throttles,
                found.cpu_throttled_seconds,
                found.memory_kills,
                found.total_memory_kills,
                found.kernel_oom_kills,
            )
    return MetricsSnapshot(
        batches=batches or count_states([]),
        workers=workers,
        limit_actions=actions,
        journal_commits=journal.commits,
        journal_fsyncs=journal.fsyncs,
        journal_bytes=journal.bytes,
        journal_segments=journal.segments,
        daemon_rss=ctx.process.memory_info().rss,
        uptime=ctx.uptime(),
    )
