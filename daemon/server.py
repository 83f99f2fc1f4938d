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

from batchd.protocol.codec import MAX_MESSAGE_BYTES, encode_event
from batchd.protocol.events import Event

log = logging.getLogger(__name__)

SEND_HIGH_WATER_MARK: Final = 10_000


@dataclass(frozen=True, slots=True)
class Incoming:
    """One request as received: who sent it, whether it had the empty delimiter frame, and
    its body (None when the frames did not have a usable layout)."""

    identity: bytes
    delimited: bool
    body: bytes | None


def parse_frames(frames: list[bytes]) -> Incoming:
    """Split a ROUTER message into identity, delimiter and body; pure."""
    identity, rest = frames[0], frames[1:]
    if len(rest) == 2 and rest[0] == b"":
        return Incoming(identity, True, rest[1])
    if len(rest) == 1 and rest[0] != b"":
        return Incoming(identity, False, rest[0])
    return Incoming(identity, bool(rest) and rest[0] == b"", None)


class ControlServer:
    """Owns the ROUTER (control) and PUB (events) sockets of one daemon."""

    def __init__(self, context: zmq.Context[zmq.Socket[bytes]], control: str, events: str):
        self._control_endpoint = control
        self._events_endpoint = events
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

    def receive(self, limit: int) -> list[Incoming]:
        """Take up to ``limit`` waiting requests without blocking."""
        received = []
        for _ in range(limit):
            try:
                frames = self.control.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
            received.append(parse_frames(frames))
        return received

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
        """Close both sockets and remove their ipc files."""
        for sock in (self.control, self.events):
            sock.close(linger=0)
        for endpoint in (self._control_endpoint, self._events_endpoint):
            path = _ipc_path(endpoint)
            if path is not None:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)


def _ipc_path(endpoint: str) -> str | None:
    return endpoint[len("ipc://") :] if endpoint.startswith("ipc://") else None
