"""Stand-ins for batchd's sockets, for client tests the real daemon cannot set up.

:class:`FakeRouter` binds a real ZeroMQ ROUTER and answers each request with whatever bodies
its handler returns (none = never answer; several = e.g. a stale reply first). Use it only where
the daemon cannot produce the situation: another protocol version, a stale reply, a daemon that
hangs. :class:`FakePublisher` binds a PUB socket and repeats events until stopped (a SUB socket
only sees what is published after its subscription arrived).

Both serve from a background thread and are context managers::

    with FakeRouter(control_endpoint(str(tmp_path)), answering(ping=reply)) as router:
        ...
    assert router.received[0].command == "hello"
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType

import zmq

from batchd.protocol import codec
from batchd.protocol.errors import BatchdError, UnknownCommand
from batchd.protocol.events import Event
from batchd.protocol.messages import HelloReply, Reply
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
    """A PUB socket that publishes its events over and over until stopped."""

    def __init__(self, endpoint: str, events: Sequence[Event]) -> None:
        super().__init__(zmq.PUB, endpoint)
        self._events = list(events)
        self._seq = 0

    def __enter__(self) -> FakePublisher:
        super().__enter__()
        return self

    def _step(self) -> None:
        for event in self._events:
            self._seq += 1
            self._socket.send_multipart(codec.encode_event(event, self._seq, time.time()))
        self._stop.wait(_POLL_MS / 1000)
