"""``stats``: the daemon's resource use, journal counters and limits. CLI: ``batchctl stats``.

The worker figures (workers, limits in force, how often the limits acted) also go to the
event stream as ``daemon.stats`` (``publish_stats``, called from the main loop's timers, at
the pace of ``batchd.daemon.pool.reporting.StatsCadence``).
"""

from __future__ import annotations

import os
from collections.abc import Callable

from batchd.daemon.commands.limits import in_force
from batchd.daemon.context import DaemonContext
from batchd.daemon.pool.executor import WorkerState
from batchd.protocol.events import DaemonStats, Event
from batchd.protocol.messages import (
    JournalStats,
    LimitActions,
    StatsReply,
    StatsRequest,
    WorkerStats,
)


def handle(ctx: DaemonContext, request: StatsRequest) -> StatsReply:
    """Measure the daemon process now (cpu_percent is since the previous ``stats``)."""
    process = ctx.process
    with process.oneshot():
        cpu = process.cpu_times()
        reply_rss = process.memory_info().rss
        cpu_percent = process.cpu_percent(interval=None)
        threads = process.num_threads()
        open_fds = process.num_fds()
    counters = ctx.journal.counters()
    return StatsReply(
        pid=os.getpid(),
        uptime=ctx.uptime(),
        rss=reply_rss,
        cpu_percent=cpu_percent,
        cpu_user=cpu.user,
        cpu_system=cpu.system,
        threads=threads,
        open_fds=open_fds,
        journal=JournalStats(
            segments=counters.segments,
            bytes=counters.bytes,
            durable_lsn=counters.durable_lsn,
            records=counters.records,
            commits=counters.commits,
            fsyncs=counters.fsyncs,
            error=ctx.journal_error,
        ),
        limits=in_force(ctx),
        limit_actions=_limit_actions(ctx),
        workers=_workers(ctx),
    )


def stats_event(ctx: DaemonContext) -> DaemonStats:
    """The worker figures of ``stats`` as a ``daemon.stats`` event."""
    return DaemonStats(os.getpid(), _workers(ctx), in_force(ctx), _limit_actions(ctx))


def publish_stats(ctx: DaemonContext, publish: Callable[[Event], None], now: float) -> None:
    """Publish ``daemon.stats`` when the pool's cadence says it is due (cheap otherwise)."""
    executor = ctx.batch_engine.executor if ctx.batch_engine is not None else None
    cadence = getattr(executor, "stats_cadence", None)
    running = getattr(executor, "running", None)
    if cadence is None or running is None or not cadence.due(now, running):
        return
    event = stats_event(ctx)
    publish(event)
    cadence.published(now, any(w.state == WorkerState.BUSY.value for w in event.workers))


def _limit_actions(ctx: DaemonContext) -> LimitActions:
    """The pool's counters of CPU throttling and memory kills."""
    executor = ctx.batch_engine.executor if ctx.batch_engine is not None else None
    counters = getattr(executor, "limit_counters", None)
    if counters is None:
        return LimitActions(0, 0.0, 0, 0)
    found = counters()
    return LimitActions(
        found.cpu_throttles,
        found.cpu_throttled_seconds,
        found.memory_kills,
        found.total_memory_kills,
        found.kernel_oom_kills,
    )


def _workers(ctx: DaemonContext) -> tuple[WorkerStats, ...]:
    """Each worker's state with the pool's last figures of its tree (the worker and its
    commands): CPU use in percent of one CPU, RSS summed."""
    if ctx.batch_engine is None:
        return ()
    cpus = os.cpu_count() or 1
    return tuple(
        WorkerStats(
            worker.pid,
            worker.state.value,
            (worker.cpu_percent or 0.0) * cpus,
            worker.rss or 0,
            worker.batch,
            worker.item,
        )
        for worker in ctx.batch_engine.executor.workers()
    )
