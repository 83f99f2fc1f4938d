"""The daemon's ZeroMQ sockets: a ROUTER for requests and an XPUB for events.

This is the only module that touches the sockets; it hands complete requests to the loop and
sends back whatever bytes it is given. Frame layouts are described in docs/protocol.md.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from dataclasses import dataclass
from typing import Final

import zmq

from batchd.daemon.curve import CurveGuard, TcpListener
from batchd.daemon.errors import DaemonError
from batchd.daemon.peers import PEER_ADDRESS, UNKNOWN_PEER, USER_ID, Peer, peer_from_metadata
from batchd.protocol.codec import MAX_MESSAGE_BYTES, encode_event
from batchd.protocol.events import Event

log = logging.getLogger(__name__)

SEND_HIGH_WATER_MARK: Final = 10_000


RECEIVE_BATCH: Final = 64
"""Requests taken per loop turn at most. The replies of a turn go out together at its end,
and the ROUTER queues fairly between clients, so a small batch keeps a client flooding the
socket from holding up everyone else's answers (ping p99 under the fuzz test)."""
MAX_KEPT_FRAMES: Final = 4
"""Frames of one request kept in memory: identity, delimiter, body, and one to tell a longer
message apart; the rest of a many-framed message is read and dropped at once."""


@dataclass(frozen=True, slots=True)
class Incoming:
    """One request as received: who sent it, whether it had the empty delimiter frame, and
    its body (None when the frames did not have a usable layout)."""

    identity: bytes
    delimited: bool
    body: bytes | None
    peer: Peer = UNKNOWN_PEER


def parse_frames(frames: list[bytes], peer: Peer = UNKNOWN_PEER) -> Incoming:
    """Split a ROUTER message into identity, delimiter and body; pure."""
    identity, rest = frames[0], frames[1:]
    if len(rest) == 2 and rest[0] == b"":
        return Incoming(identity, True, rest[1], peer)
    if len(rest) == 1 and rest[0] != b"":
        return Incoming(identity, False, rest[0], peer)
    return Incoming(identity, bool(rest) and rest[0] == b"", None, peer)


class ControlServer:
    """Owns the ROUTER (control) and PUB (events) sockets of one daemon."""

    def __init__(
        self,
        context: zmq.Context[zmq.Socket[bytes]],
        control: str,
        events: str,
        tcp: TcpListener | None = None,
    ):
        self._context = context
        self._control_endpoint = control
        self._events_endpoint = events
        self._tcp = tcp
        self._curve: CurveGuard | None = None
        self.control: zmq.Socket[bytes] = context.socket(zmq.ROUTER)
        # XPUB, not PUB: it tells us when someone subscribes, so a late subscriber can be sent
        # the current state at once instead of waiting for the next heartbeat.
        self.events: zmq.Socket[bytes] = context.socket(zmq.XPUB)
        self._event_seq = 0

    def bind(self) -> None:
        """Bind both sockets; ipc socket files get mode 0600 (the directory is 0700 too)."""
        for sock in (self.control, self.events):
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.SNDHWM, SEND_HIGH_WATER_MARK)
        # Oversized messages make libzmq drop the sender's connection before we see a byte.
        self.control.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)
        self.events.setsockopt(zmq.MAXMSGSIZE, 1024)
        self.events.setsockopt(zmq.XPUB_VERBOSE, 1)
        self.control.bind(self._control_endpoint)
        self.events.bind(self._events_endpoint)
        for endpoint in (self._control_endpoint, self._events_endpoint):
            path = _ipc_path(endpoint)
            if path is not None:
                os.chmod(path, 0o600)
        if self._tcp is not None:
            self._bind_tcp(self._tcp)

    def _bind_tcp(self, tcp: TcpListener) -> None:
        """Bind the tcp endpoints as CURVE servers; the ipc ones above stay as they were
        (libzmq copies a socket's security options at bind time)."""
        self._curve = CurveGuard(self._context, tcp)
        for sock, endpoint in ((self.control, tcp.control), (self.events, tcp.events)):
            self._curve.secure(sock)
            try:
                sock.bind(endpoint)
            except zmq.ZMQError as exc:
                raise DaemonError(f"cannot listen on {endpoint}: {exc.strerror}") from None
        log.info(
            "listening on %s and %s (CURVE; allowed client keys in %s)",
            tcp.control,
            tcp.events,
            tcp.allowed_clients_dir,
        )

    def receive(self, limit: int) -> list[Incoming]:
        """Take up to ``limit`` (at most RECEIVE_BATCH) waiting requests without blocking."""
        received = []
        for _ in range(min(limit, RECEIVE_BATCH)):
            try:
                first = self.control.recv(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                break
            received.append(self._read_rest(first))
        return received

    def _read_rest(self, first: zmq.Frame) -> Incoming:
        """Read the remaining frames of a message (they are all there once the first is),
        keeping at most MAX_KEPT_FRAMES, and who sent it."""
        frames = [first.bytes]
        last = first
        while self.control.getsockopt(zmq.RCVMORE):
            last = self.control.recv(copy=False)
            if len(frames) < MAX_KEPT_FRAMES:
                frames.append(last.bytes)
        return parse_frames(frames, _peer_of(frames[0], last))

    def new_subscriptions(self, limit: int) -> list[str]:
        """Topic prefixes subscribed to since the last call (unsubscriptions are ignored)."""
        topics = []
        for _ in range(limit):
            try:
                message = self.events.recv(zmq.NOBLOCK)
            except zmq.Again:
                break
            if message[:1] == b"\x01":
                topics.append(message[1:].decode(errors="replace"))
        return topics

    def reply(self, incoming: Incoming, body: bytes) -> None:
        """Send a reply in the frame layout the request came in; a gone peer is ignored."""
        frames = [incoming.identity, b"", body] if incoming.delimited else [incoming.identity, body]
        try:
            self.control.send_multipart(frames, zmq.NOBLOCK)
        except zmq.Again:
            log.warning("dropped a reply: the client is not reading its socket")

    def publish(self, event: Event) -> None:
        """Publish an event with the next sequence number; slow subscribers lose events
        rather than block the daemon."""
        self._event_seq += 1
        frames = encode_event(event, self._event_seq, time.time())
        with contextlib.suppress(zmq.Again):
            self.events.send_multipart(frames, zmq.NOBLOCK)

    def close(self) -> None:
        """Close both sockets, stop the ZAP handler and remove the ipc files."""
        for sock in (self.control, self.events):
            sock.close(linger=0)
        if self._curve is not None:
            self._curve.stop()
        for endpoint in (self._control_endpoint, self._events_endpoint):
            path = _ipc_path(endpoint)
            if path is not None:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)


def _peer_of(identity: bytes, frame: zmq.Frame) -> Peer:
    """The sender as libzmq describes the connection a frame came in on."""
    return peer_from_metadata(identity, _property(frame, PEER_ADDRESS), _property(frame, USER_ID))


def _property(frame: zmq.Frame, name: str) -> str | None:
    try:
        value = frame.get(name)
    except zmq.ZMQError:  # EINVAL: the connection has no such property (User-Id over ipc)
        return None
    return value if isinstance(value, str) else None


def _ipc_path(endpoint: str) -> str | None:
    return endpoint[len("ipc://") :] if endpoint.startswith("ipc://") else None
