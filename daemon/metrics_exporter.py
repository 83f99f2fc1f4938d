"""The Prometheus exporter: a private registry served over HTTP by prometheus_client's server.

Two kinds of metric live here. Item counters and the item latency histogram are
prometheus_client objects the main loop observes as outcomes arrive (thread-safe: the HTTP
thread only reads them). Everything else is read at scrape time by :class:`SnapshotCollector`
from the last :class:`~batchd.daemon.metrics.MetricsSnapshot`, an immutable value the loop
replaces once a second; swapping a reference is atomic, so a scrape sees one whole snapshot.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter as Tally
from collections.abc import Iterator
from typing import Final
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from batchd.daemon.context import DaemonContext
from batchd.daemon.errors import ConfigError
from batchd.daemon.metrics import REFRESH_INTERVAL, MetricsSnapshot, take_snapshot
from batchd.daemon.pool.executor import WorkerState
from batchd.protocol.batch_messages import ItemState

log = logging.getLogger(__name__)

COMMIT_BUCKETS: Final = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 1.0)
LATENCY_BUCKETS: Final = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)  # fmt: skip
"""Seconds, 1 ms to 60 s (slower items land in +Inf)."""


class SnapshotCollector:
    """Turns the current snapshot into metric families at scrape time (HTTP thread)."""

    def __init__(self) -> None:
        self.snapshot = MetricsSnapshot()

    def collect(self) -> Iterator[Metric]:
        """The families of one snapshot."""
        snap = self.snapshot  # one read: the loop may swap it meanwhile
        batches = GaugeMetricFamily("batchd_batches", "Batches by state.", labels=["state"])
        for state, count in snap.batches:
            batches.add_metric([state], count)
        yield batches
        yield from _worker_families(snap)
        actions = snap.limit_actions
        for name, value, text in (
            ("cpu_throttles", actions.cpu_throttles, "Times the CPU cap stopped workers."),
            (
                "cpu_throttled_seconds",
                actions.cpu_throttled_seconds,
                "Seconds workers were held stopped by the CPU cap.",
            ),
            ("memory_kills", actions.memory_kills, "Workers killed over worker_memory_limit_mb."),
            (
                "total_memory_kills",
                actions.total_memory_kills,
                "Workers killed over total_memory_limit_mb.",
            ),
            ("kernel_oom_kills", actions.kernel_oom_kills, "Workers killed by the kernel OOM."),
        ):
            yield CounterMetricFamily(f"batchd_limit_{name}", text, value=value)
        yield CounterMetricFamily(
            "batchd_journal_commits", "Journal group commits.", value=snap.journal_commits
        )
        yield CounterMetricFamily(
            "batchd_journal_fsyncs", "Journal fsync/fdatasync calls.", value=snap.journal_fsyncs
        )
        yield GaugeMetricFamily(
            "batchd_journal_bytes", "Bytes in journal segments.", value=snap.journal_bytes
        )
        yield GaugeMetricFamily(
            "batchd_journal_segments", "Journal segment files.", value=snap.journal_segments
        )
        yield GaugeMetricFamily(
            "batchd_daemon_rss_bytes", "Resident memory of the daemon.", value=snap.daemon_rss
        )
        yield GaugeMetricFamily(
            "batchd_daemon_uptime_seconds", "Seconds since the daemon started.", value=snap.uptime
        )


def _worker_families(snap: MetricsSnapshot) -> Iterator[Metric]:
    """Worker counts by state, and each slot's pid, CPU and RSS."""
    workers = GaugeMetricFamily("batchd_workers", "Worker processes by state.", labels=["state"])
    tally = Tally(worker.state for worker in snap.workers)
    for state in WorkerState:
        workers.add_metric([state.value], tally[state.value])
    pid = GaugeMetricFamily("batchd_worker_pid", "Process id of a worker slot.", labels=["slot"])
    cpu = GaugeMetricFamily(
        "batchd_worker_cpu_percent",
        "CPU use of a worker and its commands, percent of one CPU.",
        labels=["slot"],
    )
    rss = GaugeMetricFamily(
        "batchd_worker_rss_bytes", "RSS of a worker and its commands.", labels=["slot"]
    )
    for worker in snap.workers:
        slot = [str(worker.slot)]
        pid.add_metric(slot, worker.pid)
        if worker.cpu_percent is not None:
            cpu.add_metric(slot, worker.cpu_percent)
        if worker.rss is not None:
            rss.add_metric(slot, worker.rss)
    yield from (workers, pid, cpu, rss)


class MetricsExporter:
    """Owns the registry, the item metrics, the snapshot and the HTTP server thread."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.registry = CollectorRegistry(auto_describe=False)
        self.items_completed = Counter(
            "batchd_items_completed", "Items that succeeded.", registry=self.registry
        )
        self.items_failed = Counter(
            "batchd_items_failed", "Items that failed for good.", registry=self.registry
        )
        self.items_retried = Counter(
            "batchd_items_retried",
            "Item attempts that failed transiently and will be retried.",
            registry=self.registry,
        )
        self.item_latency = Histogram(
            "batchd_item_latency_seconds",
            "From handing an item's chunk to a worker to applying the item's outcome.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.commit_latency = Histogram(
            "batchd_journal_commit_seconds",
            "Duration of each journal group commit (one write + one fdatasync).",
            buckets=COMMIT_BUCKETS,
            registry=self.registry,
        )
        self._counters = {
            ItemState.COMPLETED: self.items_completed,
            ItemState.FAILED: self.items_failed,
            ItemState.RETRY_WAIT: self.items_retried,
        }
        self.collector = SnapshotCollector()
        self.registry.register(self.collector)
        self._next_refresh = 0.0
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self, ctx: DaemonContext) -> None:
        """Take a first snapshot, listen, and observe ``ctx``'s engine from now on."""
        self.refresh(ctx, time.monotonic())
        try:
            self._server, self._thread = start_http_server(
                self.port, self.host, registry=self.registry
            )
        except OSError as exc:
            where = f"[{self.host}]" if ":" in self.host else self.host
            raise ConfigError(
                f"metrics_listen: cannot listen on {where}:{self.port} ({exc.strerror or exc}): "
                'choose a free port, or set metrics_listen = "" to turn metrics off'
            ) from None
        engine = ctx.batch_engine
        if engine is not None:
            engine.outcomes.item_observer = self.observe_item
        ctx.commit_observer = self.commit_latency.observe  # thread-safe: the commit thread
        log.info("metrics served at http://%s:%d/metrics", self.host, self.port)

    def observe_item(self, state: ItemState, seconds: float) -> None:
        """One outcome applied: count it by its new state and record its latency."""
        self.item_latency.observe(seconds)
        counter = self._counters.get(state)
        if counter is not None:
            counter.inc()

    def refresh(self, ctx: DaemonContext, now: float) -> None:
        """Replace the snapshot when the last one is ``REFRESH_INTERVAL`` old."""
        if now < self._next_refresh:
            return
        self._next_refresh = now + REFRESH_INTERVAL
        self.collector.snapshot = take_snapshot(ctx)

    def stop(self) -> None:
        """Stop the HTTP server and wait for its thread; idempotent."""
        server, thread, self._server, self._thread = self._server, self._thread, None, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join()
