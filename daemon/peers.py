"""Who sent a request: the peer's uid over ipc, its CURVE key over tcp, else its connection.

ZeroMQ hands no credentials to a ROUTER per message, but libzmq attaches connection metadata
to every received frame. For an ipc (Unix socket) connection its ``Peer-Address`` property
ends in ``:uid:gid:pid`` — libzmq reads them with ``SO_PEERCRED`` when the peer connects — so
the uid cannot be forged by the client. Over tcp the ZAP handler (``batchd.daemon.curve``)
sets ``User-Id`` to the client's CURVE public key (Z85). The dispatcher makes the peer of the
request being handled available to handlers through :func:`requesting_peer`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Final

PEER_ADDRESS: Final = "Peer-Address"
USER_ID: Final = "User-Id"
IPC_HOST: Final = "localhost"


@dataclass(frozen=True, slots=True)
class Peer:
    """The sender of one request, as far as the transport tells."""

    routing_id: bytes = b""
    uid: int | None = None
    gid: int | None = None
    pid: int | None = None
    host: str = ""
    curve_key: str | None = None

    @property
    def client_key(self) -> str:
        """What per-client limits count by: the uid, else the CURVE key, else the connection."""
        if self.uid is not None:
            return f"uid:{self.uid}"
        if self.curve_key is not None:
            return f"curve:{self.curve_key}"
        return f"connection:{self.routing_id.hex()}"

    def describe(self) -> str:
        """For the log: ``uid 1000 (pid 4242)``, ``CURVE client KEY at 10.0.0.5``, …"""
        if self.uid is not None:
            return f"uid {self.uid}" + (f" (pid {self.pid})" if self.pid is not None else "")
        if self.curve_key is not None:
            return f"CURVE client {self.curve_key}" + (f" at {self.host}" if self.host else "")
        return f"connection {self.routing_id.hex()}" + (f" at {self.host}" if self.host else "")


UNKNOWN_PEER: Final = Peer()


def peer_from_metadata(routing_id: bytes, address: str | None, user_id: str | None) -> Peer:
    """Build a Peer from a frame's ``Peer-Address`` and ``User-Id`` properties; pure.

    An ipc address looks like ``localhost:1000:1000:4242`` (host, uid, gid, pid); a tcp one is
    just the host (``127.0.0.1``, ``::1``).
    """
    host, uid, gid, pid = address or "", None, None, None
    parts = host.rsplit(":", 3)
    # tcp hosts are numeric (an IPv6 one may end in digit groups); ipc ones say "localhost"
    if len(parts) == 4 and parts[0] == IPC_HOST and all(p.isdigit() for p in parts[1:]):
        host, uid, gid, pid = parts[0], int(parts[1]), int(parts[2]), int(parts[3])
    return Peer(routing_id, uid, gid, pid, host, user_id or None)


_current: ContextVar[Peer] = ContextVar("batchd_requesting_peer", default=UNKNOWN_PEER)


def requesting_peer() -> Peer:
    """The peer of the request being dispatched (UNKNOWN_PEER outside a dispatch)."""
    return _current.get()


@contextmanager
def handling_peer(peer: Peer) -> Iterator[Peer]:
    """Make ``peer`` the requesting peer for the duration of a ``with`` block."""
    token = _current.set(peer)
    try:
        yield peer
    finally:
        _current.reset(token)
