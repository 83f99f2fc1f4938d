"""``stats``: the daemon's resource use, journal counters and limits. CLI: ``batchctl stats``."""

from __future__ import annotations

import os

import psutil

from batchd.daemon.commands.limits import in_force
from batchd.daemon.context import DaemonContext
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
        ),
        limits=in_force(ctx.config),
        limit_actions=_limit_actions(ctx),
        workers=_workers(ctx),
    )


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
    )


def _workers(ctx: DaemonContext) -> tuple[WorkerStats, ...]:
    """Each worker's state with its CPU use since the previous ``stats`` and its RSS."""
    if ctx.batch_engine is None:
        return ()
    seen: dict[int, psutil.Process] = {}
    stats = []
    for worker in ctx.batch_engine.executor.workers():
        process = ctx.worker_processes.get(worker.pid)
        try:
            if process is None:
                process = psutil.Process(worker.pid)
            cpu, rss = process.cpu_percent(interval=None), process.memory_info().rss
        except psutil.Error:
            continue  # it just exited; the next stats shows its replacement
        seen[worker.pid] = process
        stats.append(
            WorkerStats(worker.pid, worker.state.value, cpu, rss, worker.batch, worker.item)
        )
    ctx.worker_processes = seen
    return tuple(stats)
