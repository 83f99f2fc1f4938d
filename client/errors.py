"""Errors the client raises itself, in the same hierarchy as the daemon's errors.

Errors the daemon sends come back as the classes of :mod:`batchd.protocol.errors`
(``BatchNotFound``, ``VersionMismatch``, ...). The classes here have no wire code
(``code = None``): they describe what went wrong on the way to the daemon.

    BatchdError                      batchd.protocol.errors; every batchd error
    └── ClientError                  raised by the client, never sent on the wire
        ├── InvalidEndpoint          the endpoint is not an address ZeroMQ can connect to
        │                            (bad scheme, ipc path too long)
        ├── DaemonUnreachable        no daemon answered: the socket file is missing or
        │   │                        refuses connections, or the handshake timed out
        │   └── DaemonTimeout        a daemon that answered the handshake did not answer a
        │                            later request within the timeout
        ├── TransportError           ZeroMQ failed while sending or receiving
        ├── ClientClosed             a request on a Client after ``close()``
        └── WaitTimeout              ``Client.wait``/``watch`` with a timeout: the batch did
                                     not end in time (it goes on in the daemon)

A script that only cares whether it reached a daemon catches ``DaemonUnreachable``; one that
wants everything the client can raise catches ``BatchdError``.
"""

from __future__ import annotations

from typing import ClassVar

from batchd.protocol.errors import BatchdError, ErrorCode


class ClientError(BatchdError):
    """Base of the errors raised on the client side; they carry no wire code."""

    code: ClassVar[ErrorCode | None] = None


class InvalidEndpoint(ClientError):
    """Raised when an endpoint cannot be connected to at all (bad scheme or address)."""


class DaemonUnreachable(ClientError):
    """Raised when no daemon answers at the endpoint; the message says how to start one."""


class DaemonTimeout(DaemonUnreachable):
    """Raised when a connected daemon does not answer a request within the timeout."""


class TransportError(ClientError):
    """Raised when ZeroMQ fails while sending or receiving a message."""


class ClientClosed(ClientError):
    """Raised when a request is made on a Client that was closed."""


class WaitTimeout(ClientError):
    """Raised when a batch did not end within the timeout given to wait() or watch()."""
