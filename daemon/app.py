"""Start-up and shut-down of one daemon: locks, journal recovery, sockets, loop, clean stop.

Order matters: the journal is recovered before the control socket is bound, so no client is
ever answered from an unrecovered state; the clean-stop record is the last thing written.
"""

from __future__ import annotations

import logging
import os
import time
from contextlib import ExitStack

import zmq

from batchd.daemon.allowed_roots import put_commands_in_force, put_roots_in_force
from batchd.daemon.batches.engine import BatchEngine, EngineSettings
from batchd.daemon.batches.refill import ResultsRefill
from batchd.daemon.batches.registry import BatchRegistry
from batchd.daemon.batches.retry import RetryPolicy
from batchd.daemon.batches.uploads import Uploads
from batchd.daemon.checkpoint import Checkpointer, StateFold, checkpoint_files, load_checkpoint
from batchd.daemon.config import Config, limits_of
from batchd.daemon.context import DaemonContext
from batchd.daemon.curve import tcp_listener
from batchd.daemon.journal import Journal
from batchd.daemon.journal.records import DaemonStarted, DaemonStopped
from batchd.daemon.lock import PidLock
from batchd.daemon.loop import MainLoop
from batchd.daemon.metrics import start_metrics
from batchd.daemon.paths import DaemonPaths, ensure_private_dir
from batchd.daemon.pool.supervisor import WorkerPool
from batchd.daemon.rollback.coordinator import Rollbacks
from batchd.daemon.rollback.purging import Purger
from batchd.daemon.server import ControlServer
from batchd.daemon.service import ServiceNotifier
from batchd.daemon.signals import StopSignals
from batchd.protocol.events import DaemonState
from batchd.protocol.version import BATCHD_VERSION

log = logging.getLogger(__name__)


def run_daemon(config: Config, paths: DaemonPaths) -> int:
    """Run until SIGTERM/SIGINT; returns the exit status (0 after a clean stop)."""
    signals = StopSignals()
    signals.install()
    service = ServiceNotifier.from_environment()
    with ExitStack() as cleanup:
        cleanup.callback(signals.close)
        ensure_private_dir(paths.state_dir)
        ensure_private_dir(paths.runtime_dir)
        put_roots_in_force(config, paths.state_dir)
        put_commands_in_force(config)
        for lock in (
            PidLock(paths.state_dir / "batchd.lock", "state directory"),
            PidLock(paths.runtime_dir / "batchd.pid", "runtime directory"),
        ):
            lock.acquire()
            cleanup.callback(lock.release)

        started = time.monotonic()
        service.starting("recovering the journal")
        checkpoints = checkpoint_files(paths.state_dir)
        loaded = load_checkpoint(checkpoints)
        fold = StateFold(loaded)  # fed every record from now on: checkpoints copy it
        refill = ResultsRefill(paths.state_dir / "batches")
        journal, history = Journal.open(
            paths.journal_dir,
            lambda records: fold.replay(refill.observe(records)),
            after_lsn=0 if loaded is None else loaded.lsn,
            on_append=fold.apply,
        )
        cleanup.callback(journal.close)
        refill.close()
        journal.append(DaemonStarted(pid=os.getpid(), time=time.time(), version=BATCHD_VERSION))
        journal.commit()
        log.info(
            "journal recovered in %.3f s (%s)",
            time.monotonic() - started,
            _describe_last_stop(history.last_stop_clean),
        )

        ctx = DaemonContext(config=config, paths=paths, journal=journal, history=history)
        zmq_context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        cleanup.callback(zmq_context.term)
        tcp = tcp_listener(config)  # None unless listen_tcp is set (then always with CURVE)
        server = ControlServer(zmq_context, paths.control_endpoint, paths.events_endpoint, tcp)
        cleanup.callback(server.close)
        engine = _start_engine(config, paths, journal, server)
        engine.restore(
            fold.batches.copy_batches(), resume=config.enable_checkpoint, now=time.monotonic()
        )
        ctx.batch_engine = engine
        ctx.rollback_coordinator, ctx.undo_purger = _start_rollbacks(config, paths, engine, service)
        server.bind()
        log.info(
            "batchd %s ready (pid %d): control %s, events %s, state %s, %d workers",
            BATCHD_VERSION,
            os.getpid(),
            paths.control_endpoint,
            paths.events_endpoint,
            paths.state_dir,
            config.max_workers,
        )

        # Metrics listen now: a taken port, or no prometheus-client, stops the start (exit 78).
        loop = MainLoop(
            ctx, server, signals, engine, service, metrics=start_metrics(config, ctx, cleanup)
        )
        checkpointer = Checkpointer(
            journal,
            checkpoints,
            fold,
            last_lsn=0 if loaded is None else loaded.lsn,
            every_records=config.checkpoint_records,
            every_seconds=config.checkpoint_interval,
            before_write=engine.registry.sync,
        )
        loop.checkpointer = checkpointer
        loop.publish_status(DaemonState.RUNNING)
        service.ready(engine.registry.active(), time.monotonic())
        loop.run()

        service.stopping(f"stopping: running items get {config.shutdown_grace:g} s to finish")
        loop.publish_status(DaemonState.STOPPING)
        engine.shutdown(config.shutdown_grace)
        ctx.batch_engine = None
        journal.append(DaemonStopped(time=time.time(), clean=True))
        journal.commit()
        checkpointer.write_or_log(rotate=False)  # so that a clean restart replays nothing
        log.info("stopped cleanly after %s", signals.signal_name or "a stop request")
    return 0


def _start_engine(
    config: Config, paths: DaemonPaths, journal: Journal, server: ControlServer
) -> BatchEngine:
    """The batch engine with its uploads, registry and worker pool (workers start now)."""
    uploads = Uploads(paths.state_dir)
    registry = BatchRegistry(uploads.batches_dir)
    pool = WorkerPool(
        config.max_workers,
        state_dir=paths.state_dir,
        enable_rollback=config.enable_rollback,
        recycle_after=config.worker_recycle_after,
        limits=limits_of(config),
    )
    settings = EngineSettings(
        workers=config.max_workers,
        item_timeout=config.item_timeout,
        retry=RetryPolicy(config.max_retries, config.retry_backoff, config.retry_backoff_max),
    )
    return BatchEngine(
        registry=registry,
        uploads=uploads,
        executor=pool,
        journal=journal,
        settings=settings,
        publish=server.publish,
    )


def _start_rollbacks(
    config: Config, paths: DaemonPaths, engine: BatchEngine, service: ServiceNotifier
) -> tuple[Rollbacks, Purger]:
    """Rollback and purging beside the restored engine (a purge the journal holds but a
    crash interrupted is repeated now)."""
    undo_root = paths.state_dir / "undo"
    rollbacks = Rollbacks(
        engine,
        undo_root,
        enabled=config.enable_rollback,
        keepalive=lambda: service.tick(engine.registry.active, time.monotonic()),
    )
    rollbacks.restore()
    purger = Purger(
        engine.registry,
        engine.journal,
        undo_root,
        max_age_days=config.undo_retention_days,
        quota_bytes=config.undo_store_quota_mb * 1024 * 1024,
    )
    purger.restore()
    return rollbacks, purger


def _describe_last_stop(clean: bool | None) -> str:
    if clean is None:
        return "first start on this state directory"
    return "the previous run stopped cleanly" if clean else "the previous run did not stop cleanly"
