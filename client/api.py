"""The typed client: connect with a handshake, then one method per daemon command.

Every method returns or raises within its timeout (the client's, unless the call passes its
own). Errors the daemon sends are raised as their :mod:`batchd.protocol.errors` classes;
errors on the way there are :mod:`batchd.client.errors`.

What only some methods need (the plan upload, event subscriptions, and through them the event
classes) is imported by those methods, so a short-lived client such as ``batchctl ping``
starts quickly.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterator, Sequence
from types import TracebackType
from typing import IO, TYPE_CHECKING, TypeVar

import zmq

from batchd.client.connection import Connection, ZmqContext, preflight
from batchd.client.discovery import resolve_endpoint, start_hint
from batchd.client.errors import DaemonTimeout, DaemonUnreachable
from batchd.client.rollback import UndoCommands
from batchd.client.tracking import DEFAULT_POLL_INTERVAL, follow
from batchd.protocol.batch_messages import (
    BatchProgress,
    CancelRequest,
    ListReply,
    ListRequest,
    PauseRequest,
    ProgressRequest,
    ResumeRequest,
    RetryRequest,
    ShowReply,
    ShowRequest,
    UploadStatusReply,
    has_ended,
)
from batchd.protocol.codec import check_version
from batchd.protocol.endpoints import events_endpoint_for
from batchd.protocol.messages import (
    HelloReply,
    HelloRequest,
    LimitsInForce,
    LimitsRequest,
    PingReply,
    PingRequest,
    Request,
    StatsReply,
    StatsRequest,
)
from batchd.protocol.version import BATCHD_VERSION, PROTOCOL_VERSION

if TYPE_CHECKING:
    from batchd.client.subscription import EventSubscription
    from batchd.client.upload import UploadCallback

CLIENT_NAME = f"batchctl {BATCHD_VERSION}"

R = TypeVar("R")


class Client(UndoCommands):
    """A connection to one batchd; build it with :meth:`connect`. Not thread-safe. Its undo
    commands (rollback, undo, history, purge) are in :class:`UndoCommands`."""

    def __init__(
        self, context: ZmqContext, connection: Connection, daemon: HelloReply, timeout: float
    ) -> None:
        self._context = context
        self._connection = connection
        self.daemon = daemon
        """The daemon's handshake answer: protocol, version and pid."""
        self.timeout = timeout
        """Seconds each call may take unless it passes its own timeout."""

    @classmethod
    def connect(
        cls, endpoint: str | None = None, *, runtime_dir: str | None = None, timeout: float = 5.0
    ) -> Client:
        """Connect to the daemon and shake hands, within `timeout` seconds.

        The endpoint is `endpoint`, else ``control.sock`` in `runtime_dir`, else in the
        runtime directory the daemon would pick (contract). Raises DaemonUnreachable when no
        daemon answers, VersionMismatch when it speaks another protocol version,
        InvalidEndpoint for an address ZeroMQ cannot use.
        """
        if not timeout > 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        env, uid = os.environ, os.getuid()
        resolved = resolve_endpoint(endpoint, runtime_dir, env, uid)
        hint = start_hint(resolved, env, uid)
        deadline = time.monotonic() + timeout
        preflight(resolved, hint, deadline)
        context: ZmqContext = zmq.Context()
        try:
            connection = Connection(context, resolved)
            daemon = _handshake(connection, max(0.0, deadline - time.monotonic()), hint, timeout)
        except BaseException:
            context.destroy(linger=0)
            raise
        return cls(context, connection, daemon, timeout)

    @property
    def endpoint(self) -> str:
        """The control endpoint this client talks to."""
        return self._connection.endpoint

    @property
    def closed(self) -> bool:
        """Whether close() was called."""
        return self._connection.closed

    def hello(self, timeout: float | None = None) -> HelloReply:
        """Repeat the handshake; raises VersionMismatch if the daemon was replaced by one
        of another protocol version."""
        request = HelloRequest(protocol=PROTOCOL_VERSION, client=CLIENT_NAME)
        reply = self._connection.request(request, HelloReply, self._timeout(timeout))
        check_version(reply.protocol, "daemon")
        self.daemon = reply
        return reply

    def ping(self, timeout: float | None = None) -> PingReply:
        """Versions, pid, uptime and whether the daemon's previous run stopped cleanly."""
        return self._connection.request(PingRequest(), PingReply, self._timeout(timeout))

    def stats(self, timeout: float | None = None) -> StatsReply:
        """The daemon's resource use, journal counters and limits in force."""
        return self._connection.request(StatsRequest(), StatsReply, self._timeout(timeout))

    def limits(
        self,
        *,
        max_workers: int | None = None,
        cpu_limit_percent: int | None = None,
        worker_memory_limit_mb: int | None = None,
        total_memory_limit_mb: int | None = None,
        batch: int | None = None,
        timeout: float | None = None,
    ) -> LimitsInForce:
        """Change limits at run time (None leaves one as is); returns the limits in force.
        With ``batch``, ``cpu_limit_percent`` caps that batch only (100: no cap)."""
        request = LimitsRequest(
            max_workers, cpu_limit_percent, worker_memory_limit_mb, total_memory_limit_mb, batch
        )
        return self._connection.request(request, LimitsInForce, self._timeout(timeout))

    def submit_plan(
        self,
        plan: bytes | IO[bytes],
        *,
        name: str = "",
        dry_run: bool = False,
        priority: int = 0,
        cwd: bytes | None = None,
        on_upload: UploadCallback | None = None,
    ) -> UploadStatusReply:
        """Stream a JSON Lines plan to the daemon and return how validation ended.

        The reply's state is ``accepted`` (``batch`` is the new batch's id), ``invalid``
        (``problems`` by line; nothing runs) or, for a dry run, ``checked`` (``preview``).
        Relative paths resolve against `cwd` (default: this process's working directory).
        `on_upload` gets (bytes sent, plan size or -1 when unknown) after each chunk. Each
        request is bounded by the client's timeout; the whole upload is not.
        """
        from batchd.client.upload import submit_plan

        return submit_plan(
            self._request,
            plan,
            name=name,
            cwd=os.fsencode(os.getcwd()) if cwd is None else cwd,
            dry_run=dry_run,
            priority=priority,
            on_upload=on_upload,
        )

    def progress(self, batch: int, timeout: float | None = None) -> BatchProgress:
        """The batch's progress; raises BatchNotFound for an unknown id."""
        return self._request(ProgressRequest(batch), BatchProgress, timeout)

    def list_batches(self, all: bool = False, timeout: float | None = None) -> ListReply:
        """The active batches (pending, running, paused, interrupted), or every batch."""
        return self._request(ListRequest(all), ListReply, timeout)

    def show(
        self,
        batch: int,
        failed_only: bool = False,
        offset: int = 0,
        limit: int = 1000,
        timeout: float | None = None,
    ) -> ShowReply:
        """The batch and one page of its items (``matched`` counts them all)."""
        return self._request(ShowRequest(batch, failed_only, offset, limit), ShowReply, timeout)

    def pause(self, batch: int, timeout: float | None = None) -> BatchProgress:
        """Start no more items of the batch; running ones finish."""
        return self._request(PauseRequest(batch), BatchProgress, timeout)

    def resume(self, batch: int, timeout: float | None = None) -> BatchProgress:
        """Run a paused or interrupted batch again."""
        return self._request(ResumeRequest(batch), BatchProgress, timeout)

    def cancel(self, batch: int, timeout: float | None = None) -> BatchProgress:
        """Stop the batch for good: running items finish, the others are skipped."""
        return self._request(CancelRequest(batch), BatchProgress, timeout)

    def retry(self, batch: int, timeout: float | None = None) -> BatchProgress:
        """Run the failed items of an ended batch again."""
        return self._request(RetryRequest(batch), BatchProgress, timeout)

    def wait(
        self,
        batch: int,
        on_progress: Callable[[BatchProgress], None] | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        timeout: float | None = None,
    ) -> BatchProgress:
        """Block until the batch reaches a terminal state and return its final progress.

        Follows the batch's events, polling ``progress`` when they go quiet; `on_progress`
        sees every update. Raises WaitTimeout after `timeout` seconds (None: no limit).
        """
        last: BatchProgress | None = None
        for update in self.watch([batch], poll_interval=poll_interval, timeout=timeout):
            last = update
            if on_progress is not None:
                on_progress(update)
        assert last is not None and has_ended(last)
        return last

    def watch(
        self,
        batches: Sequence[int] | None = None,
        *,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        timeout: float | None = None,
    ) -> Iterator[BatchProgress]:
        """Progress updates of `batches` (None: every active batch, also ones that appear
        while watching) until all of them ended; the first update of each is its current
        state. Raises WaitTimeout after `timeout` seconds (None: no limit)."""
        return follow(self, batches, poll_interval=poll_interval, timeout=timeout)

    def batch_events(self, topics: Sequence[str]) -> EventSubscription:
        """A subscription to batch topics that lasts until closed (used by watch)."""
        return self.events(topics, timeout=math.inf)

    def events(
        self, topics: Sequence[str] = ("",), timeout: float | None = None
    ) -> EventSubscription:
        """Subscribe to events whose topic starts with one of `topics`.

        The returned iterator stops after `timeout` seconds (default: the client's timeout;
        ``math.inf`` follows the stream until closed). Closing the client closes it too.
        """
        from batchd.client.subscription import EventSubscription

        if isinstance(topics, str):
            topics = (topics,)
        endpoint = events_endpoint_for(self.endpoint)
        duration = self._timeout(timeout)
        preflight(endpoint, start_hint(self.endpoint, os.environ, os.getuid()), _soon(duration))
        return EventSubscription(self._context, endpoint, topics, duration)

    def close(self) -> None:
        """Close the control socket and every event subscription of this client."""
        if not self._context.closed:
            self._context.destroy(linger=0)

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _request(self, message: Request, reply_type: type[R], timeout: float | None = None) -> R:
        return self._connection.request(message, reply_type, self._timeout(timeout))

    def _timeout(self, timeout: float | None) -> float:
        if timeout is None:
            return self.timeout
        if not timeout > 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        return timeout


def _handshake(connection: Connection, left: float, hint: str, timeout: float) -> HelloReply:
    request = HelloRequest(protocol=PROTOCOL_VERSION, client=CLIENT_NAME)
    try:
        reply = connection.request(request, HelloReply, left)
    except DaemonTimeout:
        raise DaemonUnreachable(
            f"no batchd answered at {connection.endpoint} within {timeout:g} s; {hint}",
            {"endpoint": connection.endpoint, "timeout": timeout},
        ) from None
    check_version(reply.protocol, "daemon")
    return reply


def _soon(duration: float) -> float:
    """A deadline for the preflight probe of an event socket."""
    return time.monotonic() + min(duration, 5.0)
