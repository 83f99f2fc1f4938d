"""Stand-ins for batchd's sockets, for client tests the real daemon cannot set up.

:class:`FakeRouter` binds a real ZeroMQ ROUTER and answers each request with whatever bodies
its handler returns (none = never answer; several = e.g. a stale reply first). Use it only where
the daemon cannot produce the situation: another protocol version, a stale reply, a daemon that
hangs. :class:`FakePublisher` binds a PUB socket and repeats events until stopped (a SUB socket
only sees what is published after its subscription arrived).

:class:`FakeBatchd` is a handler that plays the batch side of a daemon: it reassembles plan
uploads chunk by chunk, answers ``upload_status`` with a scripted outcome, and serves the
progress of batches from :class:`ProgressScript` clocks (which a FakePublisher can publish too).

Both serve from a background thread and are context managers::

    with FakeRouter(control_endpoint(str(tmp_path)), answering(ping=reply)) as router:
        ...
    assert router.received[0].command == "hello"
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import zmq

from batchd.protocol import codec
from batchd.protocol.batch_messages import (
    BatchProgress,
    BatchState,
    SubmitBeginReply,
    SubmitBeginRequest,
    SubmitChunkReply,
    SubmitChunkRequest,
    UploadState,
    UploadStatusReply,
)
from batchd.protocol.errors import BatchdError, BatchNotFound, InvalidArguments, UnknownCommand
from batchd.protocol.events import BatchProgressEvent, Event
from batchd.protocol.messages import COMMANDS, HelloReply, Reply
from batchd.protocol.schema import from_wire
from batchd.protocol.version import BATCHD_VERSION, PROTOCOL_VERSION

_POLL_MS = 10


@dataclass(frozen=True)
class Received:
    """One request as the fake daemon saw it."""

    version: int
    request_id: int | None
    command: str
    args: Mapping[str, object]


Handler = Callable[[Received], Sequence[bytes]]


def ok(request_id: int | None, reply: Reply) -> bytes:
    """A successful reply body, as the daemon encodes it."""
    return codec.encode_reply(request_id, reply)


def error(request_id: int | None, exc: BatchdError) -> bytes:
    """An error reply body, as the daemon encodes it."""
    return codec.encode_error(request_id, exc)


def raw(envelope: Mapping[str, object]) -> bytes:
    """A reply body built by hand, e.g. with another protocol version ``v``."""
    return codec.pack(dict(envelope))


def hello_reply(pid: int = 4242) -> HelloReply:
    """The handshake answer of a daemon of this protocol version."""
    return HelloReply(protocol=PROTOCOL_VERSION, daemon_version=BATCHD_VERSION, pid=pid)


def answering(**replies: Reply | BatchdError) -> Handler:
    """A handler that answers the handshake and each named command with its reply or error;
    any other command gets UNKNOWN_COMMAND."""

    def handle(request: Received) -> Sequence[bytes]:
        answer = replies.get(request.command)
        if answer is None and request.command == "hello":
            answer = hello_reply()
        if answer is None:
            return [error(request.request_id, UnknownCommand(f"no {request.command!r} here"))]
        if isinstance(answer, BatchdError):
            return [error(request.request_id, answer)]
        return [ok(request.request_id, answer)]

    return handle


class _Server:
    """A socket bound in the caller's thread and then served by one background thread."""

    def __init__(self, kind: int, endpoint: str) -> None:
        self.endpoint = endpoint
        self._context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        self._socket = self._context.socket(kind)
        self._socket.setsockopt(zmq.LINGER, 0)
        self._socket.bind(endpoint)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name=type(self).__name__, daemon=True)
        self.failure: BaseException | None = None

    def __enter__(self) -> _Server:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop serving, close the socket and re-raise anything the thread failed with."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self._context.destroy(linger=0)
        if self.failure is not None:
            raise self.failure

    def _serve(self) -> None:
        try:
            while not self._stop.is_set():
                self._step()
        except BaseException as exc:  # surfaced by stop() in the test's thread
            self.failure = exc

    def _step(self) -> None:
        raise NotImplementedError


class FakeRouter(_Server):
    """A ROUTER that answers every request with the bodies its handler returns."""

    def __init__(self, endpoint: str, handler: Handler) -> None:
        super().__init__(zmq.ROUTER, endpoint)
        self._handler = handler
        self._lock = threading.Lock()
        self._received: list[Received] = []

    def __enter__(self) -> FakeRouter:
        super().__enter__()
        return self

    @property
    def received(self) -> list[Received]:
        """The requests received so far, oldest first."""
        with self._lock:
            return list(self._received)

    def wait_for_requests(self, count: int, timeout: float = 5.0) -> list[Received]:
        """Poll until `count` requests arrived; fails the test after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while len(self.received) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"only {len(self.received)} of {count} requests arrived")
            self._stop.wait(0.005)
        return self.received

    def _step(self) -> None:
        if not self._socket.poll(_POLL_MS, zmq.POLLIN):
            return
        identity, delimiter, body = self._socket.recv_multipart()
        assert delimiter == b"", "the client must send an empty delimiter frame"
        envelope = codec.decode_request_envelope(body)
        request = Received(envelope.version, envelope.request_id, envelope.command, envelope.args)
        with self._lock:
            self._received.append(request)
        for reply in self._handler(request):
            self._socket.send_multipart([identity, b"", reply])


class FakePublisher(_Server):
    """A PUB socket that publishes its events over and over until stopped; `events` may be
    a callable giving the events of the moment (e.g. from ProgressScripts)."""

    def __init__(
        self,
        endpoint: str,
        events: Sequence[Event] | Callable[[], Sequence[Event]],
        interval: float = _POLL_MS / 1000,
    ) -> None:
        super().__init__(zmq.PUB, endpoint)
        self._events = events if callable(events) else (lambda fixed=list(events): fixed)
        self._interval = interval
        self._seq = 0

    def __enter__(self) -> FakePublisher:
        super().__enter__()
        return self

    def _step(self) -> None:
        for event in self._events():
            self._seq += 1
            self._socket.send_multipart(codec.encode_event(event, self._seq, time.time()))
        self._stop.wait(self._interval)


def progress_of(
    batch: int,
    state: BatchState,
    total: int,
    completed: int,
    failed: int = 0,
    *,
    name: str = "",
    rate: float = 0.0,
    eta: float | None = None,
) -> BatchProgress:
    """A BatchProgress with plausible values for the fields a test does not care about."""
    done = completed + failed
    ended = state in (BatchState.COMPLETED, BatchState.FAILED, BatchState.CANCELLED)
    return BatchProgress(
        id=batch,
        name=name,
        state=state,
        total=total,
        completed=completed,
        failed=failed,
        progress=done / total if total else 1.0,
        eta=eta,
        rate=rate,
        running=0 if ended else min(4, total - done),
        pending=0 if ended else max(0, total - done - 4),
        elapsed=1.5,
        retried=0,
        priority=0,
        submitted_at=1_700_000_000.0,
        finished_at=1_700_000_001.5 if ended else None,
    )


@dataclass
class ProgressScript:
    """A batch that runs from 0 to `total` items in `duration` seconds once started, then ends
    in `final` state with `failed` of its items failed."""

    batch: int
    total: int
    duration: float
    final: BatchState = BatchState.COMPLETED
    failed: int = 0
    name: str = ""
    started: float | None = None

    def start(self) -> ProgressScript:
        """Start the clock (idempotent); returns self."""
        if self.started is None:
            self.started = time.monotonic()
        return self

    def now(self) -> BatchProgress:
        """The progress at this moment."""
        if self.started is None:
            return progress_of(self.batch, BatchState.PENDING, self.total, 0, name=self.name)
        fraction = min(1.0, (time.monotonic() - self.started) / self.duration)
        done = int(self.total * fraction)
        failed = min(self.failed, done)
        if fraction >= 1.0:
            return progress_of(
                self.batch,
                self.final,
                self.total,
                self.total - self.failed,
                self.failed,
                name=self.name,
            )
        rate = self.total / self.duration
        return progress_of(
            self.batch,
            BatchState.RUNNING,
            self.total,
            done - failed,
            failed,
            name=self.name,
            rate=rate,
            eta=(self.total - done) / rate,
        )

    def event(self) -> BatchProgressEvent:
        """The progress at this moment as the daemon would publish it."""
        return BatchProgressEvent(self.now())


Outcome = Callable[[bytes, SubmitBeginRequest, str], UploadStatusReply]


def accept_as(batch: int) -> Outcome:
    """An outcome: accept every plan as batch `batch`, one item per line."""

    def outcome(plan: bytes, begin: SubmitBeginRequest, upload: str) -> UploadStatusReply:
        total = len(plan.splitlines())
        return UploadStatusReply(upload, UploadState.ACCEPTED, batch, total, 0, (), ())

    return outcome


@dataclass
class FakeBatchd:
    """A FakeRouter handler that plays batchd's plan uploads and batch commands.

    Chunks must arrive in order (``seq`` 0, 1, ...) and hold at most ``chunk_bytes``;
    ``plans`` keeps each upload's reassembled bytes and ``begins`` its submit_begin request.
    ``upload_status`` says ``validating`` `validating_polls` times, then the `outcome`.
    ``progress`` answers from `scripts`; ``list``, ``show`` and the control commands answer
    from `replies` (a reply, an error, or a callable of the request's args).
    """

    chunk_bytes: int = 64 * 1024
    outcome: Outcome = field(default_factory=lambda: accept_as(1))
    validating_polls: int = 2
    scripts: dict[int, ProgressScript] = field(default_factory=dict)
    replies: dict[str, object] = field(default_factory=dict)
    plans: dict[str, bytes] = field(default_factory=dict)
    begins: dict[str, SubmitBeginRequest] = field(default_factory=dict)
    _chunks: dict[str, list[bytes]] = field(default_factory=dict)
    _polls: dict[str, int] = field(default_factory=dict)

    def __call__(self, request: Received) -> Sequence[bytes]:
        rid = request.request_id
        try:
            message = from_wire(COMMANDS[request.command].request, request.args)
            return [ok(rid, self._answer(request.command, message))]
        except BatchdError as exc:
            return [error(rid, exc)]

    def _answer(self, command: str, message: Any) -> Reply:
        if command == "hello":
            return hello_reply()
        if command == "submit_begin":
            assert isinstance(message, SubmitBeginRequest)
            upload = f"u{len(self.begins) + 1}"
            self.begins[upload] = message
            self._chunks[upload] = []
            return SubmitBeginReply(upload, self.chunk_bytes)
        if command == "submit_chunk":
            assert isinstance(message, SubmitChunkRequest)
            chunks = self._chunks[message.upload]
            if message.seq != len(chunks) or len(message.data) > self.chunk_bytes:
                raise InvalidArguments(f"chunk {message.seq} out of order or too large")
            chunks.append(message.data)
            return SubmitChunkReply(message.upload, sum(len(c) for c in chunks))
        if command in ("submit_end", "upload_status"):
            upload = message.upload
            if command == "submit_end":
                self.plans[upload] = b"".join(self._chunks.pop(upload))
                self._polls[upload] = 0
            self._polls[upload] += 1
            if self._polls[upload] <= self.validating_polls:
                return UploadStatusReply(upload, UploadState.VALIDATING, None, 0, 0, (), ())
            return self.outcome(self.plans[upload], self.begins[upload], upload)
        if command == "progress":
            script = self.scripts.get(message.batch)
            if script is None:
                raise BatchNotFound(f"no batch {message.batch}")
            return script.now()
        answer = self.replies.get(command)
        if answer is None:
            raise UnknownCommand(f"no {command!r} here")
        if isinstance(answer, BatchdError):
            raise answer
        if callable(answer):
            answer = answer(message)
        return answer  # type: ignore[return-value]
