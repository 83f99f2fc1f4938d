"""The control connection: one DEALER socket, request ids, deadlines, stale-reply discard.

A request goes out as ``[b"", body]`` and the daemon's ROUTER answers ``[b"", reply]``. Every
call waits on a poll with the time left before its deadline, so it returns or raises in time;
ZeroMQ's errors are translated to :mod:`batchd.client.errors` here and nowhere else.

Over tcp the socket is a CURVE client (keys from ``--curve-keys DIR`` / ``$BATCHD_CURVE_KEYS``):
batchd serves tcp only with CURVE, and a daemon that does not know our key never answers, so
that shows as a timeout too.

ZeroMQ's ipc ``connect`` succeeds with nobody listening, so a missing daemon would only show as
a timeout. :func:`preflight` fails fast instead: when the socket file is missing, or a plain
Unix-socket probe is refused (a stale file left by a daemon that was killed).

A reply whose id is not the current request's answers a request that timed out earlier and is
dropped. Not thread-safe: one Connection per thread.
"""

from __future__ import annotations

import errno
import itertools
import math
import os
import socket
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

import zmq

from batchd.client.curve_keys import CurveClientKeys, curve_for
from batchd.client.discovery import ipc_path
from batchd.client.errors import (
    ClientClosed,
    DaemonTimeout,
    DaemonUnreachable,
    InvalidEndpoint,
    TransportError,
)
from batchd.protocol.codec import (
    MAX_MESSAGE_BYTES,
    ReplyEnvelope,
    check_version,
    decode_reply_envelope,
    encode_request,
    parse_reply,
    unpack,
)
from batchd.protocol.errors import MalformedMessage, ProtocolError
from batchd.protocol.messages import Request

R = TypeVar("R")

# sockaddr_un.sun_path holds 108 bytes including the terminating NUL.
MAX_IPC_PATH_BYTES = 107

ZmqContext = zmq.Context[zmq.Socket[bytes]]
ZmqSocket = zmq.Socket[bytes]


def remaining_ms(deadline: float) -> int:
    """Milliseconds left before a monotonic deadline, never negative."""
    return max(0, math.ceil((deadline - time.monotonic()) * 1000))


def preflight(endpoint: str, hint: str, deadline: float) -> None:
    """Fail fast with DaemonUnreachable when an ipc endpoint certainly has no listener."""
    path = ipc_path(endpoint)
    if path is None:
        return
    if len(os.fsencode(path)) > MAX_IPC_PATH_BYTES:
        raise InvalidEndpoint(
            f"cannot connect to {endpoint!r}: the socket path is longer than "
            f"{MAX_IPC_PATH_BYTES} bytes, the limit of Unix sockets; use a shorter runtime dir",
            {"endpoint": endpoint},
        )
    try:
        mode = stat.S_IFMT(os.stat(path).st_mode)
    except FileNotFoundError:
        raise DaemonUnreachable(
            f"no batchd is listening at {endpoint} (no socket file {path}); {hint}",
            {"endpoint": endpoint},
        ) from None
    except PermissionError:
        raise _permission_denied(endpoint) from None
    except OSError:
        return  # let ZeroMQ report whatever this is within the deadline
    if mode != stat.S_IFSOCK:
        raise DaemonUnreachable(
            f"no batchd is listening at {endpoint} ({path} is not a socket); {hint}",
            {"endpoint": endpoint},
        )
    _probe_unix_socket(endpoint, path, hint, deadline)


def _probe_unix_socket(endpoint: str, path: str, hint: str, deadline: float) -> None:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.settimeout(max(0.001, remaining_ms(deadline) / 1000))
        probe.connect(path)
    except OSError as exc:
        if exc.errno == errno.ECONNREFUSED:
            raise DaemonUnreachable(
                f"no batchd is listening at {endpoint} (stale socket file, connection "
                f"refused); {hint}",
                {"endpoint": endpoint},
            ) from None
        if exc.errno in (errno.EACCES, errno.EPERM):
            raise _permission_denied(endpoint) from None
        # Anything else (a full backlog timing out, ...): let ZeroMQ try within the deadline.
    finally:
        probe.close()


def _permission_denied(endpoint: str) -> DaemonUnreachable:
    return DaemonUnreachable(
        f"permission denied connecting to {endpoint}; run batchctl as the daemon's user "
        "or as a member of its group",
        {"endpoint": endpoint},
    )


@contextmanager
def translate_zmq_errors(endpoint: str, action: str) -> Iterator[None]:
    """Turn a ZMQError raised inside the block into a TransportError naming the endpoint."""
    try:
        yield
    except zmq.ZMQError as exc:
        raise TransportError(
            f"ZeroMQ failed while {action} {endpoint}: {exc.strerror}",
            {"endpoint": endpoint, "errno": exc.errno},
        ) from None


def open_socket(
    context: ZmqContext, kind: int, endpoint: str, curve: CurveClientKeys | None = None
) -> ZmqSocket:
    """A socket of `kind` with LINGER 0 and the message size limit, connected to endpoint;
    a tcp endpoint uses CURVE with `curve`, else with the keys of ``$BATCHD_CURVE_KEYS``."""
    curve = curve or curve_for(endpoint)
    with translate_zmq_errors(endpoint, "creating a socket for"):
        sock = context.socket(kind)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)
        if curve is not None:
            sock.setsockopt(zmq.CURVE_PUBLICKEY, curve.public)
            sock.setsockopt(zmq.CURVE_SECRETKEY, curve.secret)
            sock.setsockopt(zmq.CURVE_SERVERKEY, curve.server_public)
    try:
        sock.connect(endpoint)
    except zmq.ZMQError as exc:
        sock.close(linger=0)
        raise InvalidEndpoint(
            f"cannot connect to {endpoint!r}: {exc.strerror}; expected an address like "
            "ipc:///run/batchd/control.sock or tcp://host:port",
            {"endpoint": endpoint},
        ) from None
    return sock


class Connection:
    """A DEALER socket connected to the daemon's control endpoint (with CURVE over tcp)."""

    def __init__(
        self, context: ZmqContext, endpoint: str, curve: CurveClientKeys | None = None
    ) -> None:
        self.endpoint = endpoint
        self._socket = open_socket(context, zmq.DEALER, endpoint, curve)
        self._ids = itertools.count(1)

    @property
    def closed(self) -> bool:
        """Whether close() was called."""
        return bool(self._socket.closed)

    def close(self) -> None:
        """Close the socket, dropping unsent requests (LINGER 0)."""
        self._socket.close(linger=0)

    def request(self, message: Request, reply_type: type[R], timeout: float) -> R:
        """Send one request and return its reply, raising the daemon's error as its class.

        Raises DaemonTimeout when no reply comes within `timeout` seconds, VersionMismatch for
        a daemon of another protocol version, MalformedMessage for an unreadable reply.
        """
        if self.closed:
            raise ClientClosed(f"the connection to {self.endpoint} is closed")
        deadline = time.monotonic() + timeout
        request_id = next(self._ids)
        self._send(encode_request(request_id, message), deadline, message.COMMAND, timeout)
        while True:
            envelope = self._receive(deadline, message.COMMAND, timeout)
            check_version(envelope.version, "daemon")
            if envelope.request_id == request_id:
                return parse_reply(envelope, reply_type)
            if envelope.request_id is None and envelope.error is not None:
                # The daemon could not read our envelope's id; only our request is waiting.
                raise envelope.error
            # Otherwise a late answer to a request that timed out earlier: drop it.

    def _send(self, body: bytes, deadline: float, command: str, timeout: float) -> None:
        with translate_zmq_errors(self.endpoint, "sending to"):
            if not self._socket.poll(remaining_ms(deadline), zmq.POLLOUT):
                raise self._timeout(command, timeout)
            try:
                self._socket.send_multipart([b"", body], flags=zmq.NOBLOCK)
            except zmq.Again:
                raise self._timeout(command, timeout) from None

    def _receive(self, deadline: float, command: str, timeout: float) -> ReplyEnvelope:
        with translate_zmq_errors(self.endpoint, "receiving from"):
            if not self._socket.poll(remaining_ms(deadline), zmq.POLLIN):
                raise self._timeout(command, timeout)
            frames = self._socket.recv_multipart(flags=zmq.NOBLOCK)
        if len(frames) != 2 or frames[0] != b"":
            raise MalformedMessage(
                f"the daemon at {self.endpoint} sent a reply of {len(frames)} frames; "
                "expected an empty delimiter and a body"
            )
        return decode_reply(frames[1])

    def _timeout(self, command: str, timeout: float) -> DaemonTimeout:
        return DaemonTimeout(
            f"batchd at {self.endpoint} did not answer {command!r} within {timeout:g} s; "
            "it may be busy or hung: retry with a longer timeout or check the daemon's log",
            {"endpoint": self.endpoint, "command": command, "timeout": timeout},
        )


def decode_reply(body: bytes) -> ReplyEnvelope:
    """Decode a reply envelope; a reply we cannot read but that names another protocol
    version raises VersionMismatch (its envelope may have changed shape)."""
    try:
        return decode_reply_envelope(body)
    except ProtocolError:
        version = _peek_version(body)
        if version is not None:
            check_version(version, "daemon")
        raise


def _peek_version(body: bytes) -> int | None:
    try:
        value = unpack(body)
    except ProtocolError:
        return None
    if isinstance(value, dict):
        version = value.get("v")
        if isinstance(version, int) and not isinstance(version, bool):
            return version
    return None
