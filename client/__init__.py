"""batchd's client library and the ``batchctl`` command.

    from batchd.client import Client, DaemonUnreachable
    from batchd.protocol.errors import BatchNotFound

    try:
        with Client.connect(timeout=5.0) as client:  # or Client.connect("ipc:///x/control.sock")
            print(client.ping().uptime)
            for frame in client.events(("daemon",), timeout=10.0):
                print(frame.topic, frame.event)
    except DaemonUnreachable as exc:
        print(exc)  # names the endpoint and how to start the daemon

Errors the daemon sends are raised as their classes in :mod:`batchd.protocol.errors`; errors
on the way to it are in :mod:`batchd.client.errors`; all derive from ``BatchdError``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from batchd.client.errors import (
    ClientClosed,
    ClientError,
    DaemonTimeout,
    DaemonUnreachable,
    InvalidEndpoint,
    TransportError,
    WaitTimeout,
)

if TYPE_CHECKING:
    from batchd.client.api import Client

__all__ = [
    "Client",
    "ClientClosed",
    "ClientError",
    "DaemonTimeout",
    "DaemonUnreachable",
    "InvalidEndpoint",
    "TransportError",
    "WaitTimeout",
]


def __getattr__(name: str) -> object:
    # Client pulls in zmq and msgpack; importing it lazily keeps `batchctl --help` quick,
    # since Python imports this package before batchd.client.cli.
    if name == "Client":
        from batchd.client.api import Client

        return Client
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
