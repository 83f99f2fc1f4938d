"""The daemon's main loop: one short list of named steps, repeated until a stop signal.

Replies wait for the journal, but only for the records they depend on: a request that appended
records is answered once they are durable; ``commit_journal`` hands the group commit to a
thread of its own (``committer``), so the loop keeps serving while the disk syncs. Batch work
(validations, worker outcomes, dispatch, progress events) is done by the batch engine's steps;
a new batch becomes visible, and a chunk starts, only once its records are durable.
"""

from __future__ import annotations

import logging
import time
from typing import Final

import zmq

from batchd.daemon.batches.engine import BatchEngine
from batchd.daemon.checkpoint import Checkpointer
from batchd.daemon.commands.stats import publish_stats
from batchd.daemon.committer import BackgroundCommitter
from batchd.daemon.context import DaemonContext
from batchd.daemon.dispatch import dispatch
from batchd.daemon.metrics import NO_METRICS, Metrics
from batchd.daemon.server import ControlServer, Incoming
from batchd.daemon.service import ServiceNotifier
from batchd.daemon.signals import StopSignals
from batchd.protocol.events import DAEMON_TOPIC, DaemonState, DaemonStatus

log = logging.getLogger(__name__)

REQUESTS_PER_TURN: Final = 1000
HEARTBEAT_INTERVAL: Final = 5.0
MAX_POLL_WAIT: Final = 1.0
RETRY_COMMIT_AFTER: Final = 1.0


class MainLoop:
    """Serves requests, runs batches and timers on the calling thread until a stop request."""

    checkpointer: Checkpointer | None = None
    """Writes the state checkpoints (set by the app once the journal is recovered)."""

    def __init__(
        self,
        ctx: DaemonContext,
        server: ControlServer,
        signals: StopSignals,
        engine: BatchEngine,
        service: ServiceNotifier | None = None,
        *,
        metrics: Metrics = NO_METRICS,
    ) -> None:
        self.ctx = ctx
        self.metrics = metrics
        """The Prometheus exporter, when ``metrics_listen`` is set (daemon/metrics.py)."""
        self.server = server
        self.signals = signals
        self.engine = engine
        self.service = service or ServiceNotifier(None)
        self._poller = zmq.Poller()
        self._poller.register(server.control, zmq.POLLIN)
        self._poller.register(server.events, zmq.POLLIN)
        self._poller.register(signals.wakeup_fd, zmq.POLLIN)
        self.committer = BackgroundCommitter(ctx.journal, on_commit=ctx.commit_observer)
        self._poller.register(self.committer.wake_fd, zmq.POLLIN)
        self._retry_commit_at = 0.0
        self._engine_fds: set[int] = set()
        self._incoming: list[Incoming] = []
        self._outbox: list[tuple[Incoming, bytes, int]] = []
        self._subscriptions: list[str] = []
        self._next_heartbeat = time.monotonic()

    def run(self) -> None:
        """Loop until SIGTERM/SIGINT; the caller then shuts down."""
        self.committer.start()
        try:
            while not self.signals.requested:
                self.turn()
        finally:
            self.committer.stop()
        self.ctx.journal.commit()  # what the last turn appended, then its answers
        self.send_replies()

    def turn(self) -> None:
        """One pass over the named steps."""
        self.poll_sockets()
        self.handle_commands()
        self.send_replies()  # those that wrote nothing go at once, not after this turn's work
        now = time.monotonic()
        self.engine.reap_validations(now, time.time())
        self.engine.collect_outcomes(now)
        self.engine.dispatch_ready(now)
        self.commit_journal()
        self.engine.admit_batches(self.ctx.journal.durable_lsn)
        self.send_replies()
        self.engine.start_staged()
        self.engine.publish_events(time.monotonic(), time.time(), self._take_subscriptions())
        self.run_timers()
        self.notify_watchdog()

    def poll_sockets(self) -> None:
        """Wait for a request, a signal, a worker or validator, or the next deadline."""
        self._watch_engine_fds()
        now = time.monotonic()
        deadline = min(self._next_heartbeat, now + MAX_POLL_WAIT)
        engine_deadline = self.engine.next_deadline()
        if engine_deadline is not None:
            deadline = min(deadline, engine_deadline)
        watchdog_deadline = self.service.next_deadline()
        if watchdog_deadline is not None:
            deadline = min(deadline, watchdog_deadline)
        ready = dict(self._poller.poll(max(0, int((deadline - now) * 1000))))
        if self.signals.wakeup_fd in ready:
            self.signals.drain()
        if self.committer.wake_fd in ready:
            self.committer.drain()
        if self.server.control in ready:
            self._incoming = self.server.receive(REQUESTS_PER_TURN)
        if self.server.events in ready:
            self._subscriptions += self.server.new_subscriptions(REQUESTS_PER_TURN)

    def handle_commands(self) -> None:
        """Turn each received request into a reply held in the outbox, with the LSN that must
        be durable before it is sent (0: it wrote nothing, it may go at once)."""
        journal = self.ctx.journal
        for incoming in self._incoming:
            before = journal.appended_lsn
            reply = dispatch(self.ctx, incoming.body, peer=incoming.peer)
            after = journal.appended_lsn
            self._outbox.append((incoming, reply, after if after > before else 0))
        self._incoming = []

    def commit_journal(self) -> None:
        """Have the committer thread make every record appended so far durable.

        A failed fsync is fatal (raised here; the daemon exits and recovers at restart); a
        failed write (say ENOSPC) keeps the records queued and is tried again a second later.
        """
        retry = self.committer.check()
        now = time.monotonic()
        if retry is not None:
            log.error("journal write failed, will retry: %s", retry.message)
            self._retry_commit_at = now + RETRY_COMMIT_AFTER
            self.ctx.journal_error = f"the journal cannot be written: {retry.message}"
            self.engine.set_storage_error(self.ctx.journal_error)
        elif self.ctx.journal_error and not self.ctx.journal.pending:
            log.info("the journal is written again")
            self.ctx.journal_error = ""
            self.engine.set_storage_error("")
        if self.ctx.journal.pending and now >= self._retry_commit_at:
            self.committer.kick()

    def send_replies(self) -> None:
        """Answer the requests whose records are durable."""
        durable = self.ctx.journal.durable_lsn
        waiting = []
        for incoming, body, needs in self._outbox:
            if needs <= durable:
                self.server.reply(incoming, body)
            else:
                waiting.append((incoming, body, needs))
        self._outbox = waiting

    def run_timers(self) -> None:
        """Publish the heartbeat status and the pool's figures when they are due."""
        now = time.monotonic()
        if now >= self._next_heartbeat:
            self.publish_status(DaemonState.RUNNING)
            self._next_heartbeat = now + HEARTBEAT_INTERVAL
        publish_stats(self.ctx, self.server.publish, now)
        self.metrics.refresh(self.ctx, now)
        self.write_checkpoint(now)
        if self.ctx.undo_purger is not None:
            self.ctx.undo_purger.apply_retention(now)

    def write_checkpoint(self, now: float) -> None:
        """Checkpoint the state once enough records or time went by, so the journal's old
        segments can be deleted and a restart replays little (daemon/checkpoint.py)."""
        if self.checkpointer is not None:
            self.checkpointer.write_if_due(now)

    def notify_watchdog(self) -> None:
        """Tell systemd the loop is alive (WATCHDOG=1) and what it is doing (STATUS=)."""
        self.service.tick(self.engine.registry.active, time.monotonic())

    def publish_status(self, state: DaemonState) -> None:
        """Publish a DaemonStatus event (also used at start and stop)."""
        status = DaemonStatus(state=state, pid=self.ctx.process.pid, uptime=self.ctx.uptime())
        self.server.publish(status)

    def _take_subscriptions(self) -> list[str]:
        topics, self._subscriptions = self._subscriptions, []
        if any(DAEMON_TOPIC.startswith(t) for t in topics):
            self._next_heartbeat = 0.0  # a late subscriber gets the daemon's state now
        return topics

    def _watch_engine_fds(self) -> None:
        current = set(self.engine.fds())
        for fd in self._engine_fds - current:
            self._poller.unregister(fd)
        for fd in current - self._engine_fds:
            self._poller.register(fd, zmq.POLLIN)
        self._engine_fds = current
