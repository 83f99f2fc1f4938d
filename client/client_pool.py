"""Connected Clients shared by threads, each lent to one thread at a time.

ZeroMQ sockets are not thread-safe, so a :class:`~batchd.client.api.Client` must never be used
by two threads at once. A server that answers requests on many threads (the HTTP gateway)
borrows a client per request instead of sharing one behind a lock: a slow call (a rollback
waiting for a busy batch) then holds up nobody else. A client whose connection failed is
closed rather than given back, so the next borrower connects afresh: the daemon may start
after the server, or restart under it. An idle client is probed before it is lent (for an ipc
endpoint: the socket file and a Unix connect, as ``Client.connect`` does), so that a daemon
that died is reported at once instead of after a request's timeout.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from batchd.client.connection import preflight
from batchd.client.discovery import start_hint
from batchd.client.errors import ClientError

if TYPE_CHECKING:
    from batchd.client.api import Client

KEEP_IDLE_CLIENTS = 4
"""Connected clients kept for the next requests; more are made for a burst, then closed."""

PROBE_SECONDS = 1.0
"""The longest an idle client's probe may take."""


class ClientPool:
    """Connected Clients lent to one request thread at a time (ZeroMQ sockets are not
    thread-safe); `connect` makes a new one when none is idle."""

    def __init__(self, connect: Callable[[], Client], keep: int = KEEP_IDLE_CLIENTS) -> None:
        self._connect = connect
        self._keep = keep
        self._idle: list[Client] = []
        self._lock = threading.Lock()

    @contextmanager
    def client(self) -> Iterator[Client]:
        """Borrow a client; it goes back to the pool unless the daemon could not be reached."""
        with self._lock:
            client = self._idle.pop() if self._idle else None
        if client is None:
            client = self._connect()
        else:
            self._probe(client)
        try:
            yield client
        except ClientError:
            client.close()  # unreachable, timed out or broken: the next request reconnects
            raise
        except BaseException:
            self._give_back(client)
            raise
        self._give_back(client)

    def close(self) -> None:
        """Close the idle clients."""
        with self._lock:
            idle, self._idle = self._idle, []
        for client in idle:
            client.close()

    def _probe(self, client: Client) -> None:
        hint = start_hint(client.endpoint, os.environ, os.getuid())
        try:
            preflight(client.endpoint, hint, time.monotonic() + min(client.timeout, PROBE_SECONDS))
        except ClientError:
            client.close()
            raise

    def _give_back(self, client: Client) -> None:
        with self._lock:
            if len(self._idle) < self._keep:
                self._idle.append(client)
                return
        client.close()
