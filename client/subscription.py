"""A subscription to the daemon's event stream (its PUB socket), bounded by a deadline.

The SUB socket subscribes by topic prefix (``""`` = everything, ``"daemon"``, later
``"batch.<id>"``). Iteration yields decoded :class:`~batchd.protocol.codec.EventFrame` objects
and stops when the deadline passes; each ``next()`` waits on a poll with the time left, so it
never blocks past the deadline. ZeroMQ's PUB/SUB drops events sent before the subscription
reached the daemon, so a subscriber sees the stream from "shortly after it connected".
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from types import TracebackType

import zmq

from batchd.client.connection import (
    ZmqContext,
    open_socket,
    remaining_ms,
    translate_zmq_errors,
)
from batchd.protocol.codec import EventFrame, decode_event

# Poll in slices when there is no deadline, so Ctrl-C is handled promptly.
_FOREVER_SLICE_MS = 1000


class EventSubscription:
    """An iterator of events from one SUB socket; a context manager that closes it."""

    def __init__(
        self, context: ZmqContext, endpoint: str, topics: Iterable[str], timeout: float
    ) -> None:
        self.endpoint = endpoint
        self._deadline = None if math.isinf(timeout) else time.monotonic() + timeout
        self._socket = open_socket(context, zmq.SUB, endpoint)
        with translate_zmq_errors(endpoint, "subscribing to"):
            for topic in topics:
                self._socket.setsockopt(zmq.SUBSCRIBE, topic.encode())

    @property
    def closed(self) -> bool:
        """Whether the subscription was closed (explicitly or by its Client)."""
        return bool(self._socket.closed)

    def close(self) -> None:
        """Unsubscribe and close the socket."""
        self._socket.close(linger=0)

    def receive(self, timeout: float) -> EventFrame | None:
        """The next event within `timeout` seconds (and the subscription's deadline), or
        None when none came; a closed subscription returns None at once."""
        if self.closed:
            return None
        limit = time.monotonic() + max(0.0, timeout)
        if self._deadline is not None:
            limit = min(limit, self._deadline)
        with translate_zmq_errors(self.endpoint, "receiving events from"):
            if not self._socket.poll(remaining_ms(limit), zmq.POLLIN):
                return None
            frames = self._socket.recv_multipart(flags=zmq.NOBLOCK)
        return decode_event(frames)

    def __iter__(self) -> EventSubscription:
        return self

    def __next__(self) -> EventFrame:
        while not self.closed:
            wait = _FOREVER_SLICE_MS if self._deadline is None else remaining_ms(self._deadline)
            with translate_zmq_errors(self.endpoint, "receiving events from"):
                ready = self._socket.poll(wait, zmq.POLLIN)
                if ready:
                    frames = self._socket.recv_multipart(flags=zmq.NOBLOCK)
            if ready:
                return decode_event(frames)
            if self._deadline is not None and time.monotonic() >= self._deadline:
                break
        self.close()
        raise StopIteration

    def __enter__(self) -> EventSubscription:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
