"""Following batches until they end: events first, polling as the fallback.

The daemon publishes a :class:`~batchd.protocol.events.BatchProgressEvent` on every state
change and a few times a second while a batch runs. Events can be missed (PUB/SUB drops what
was sent before the subscription arrived, or the event socket is unreachable), so the
follower also asks ``progress`` for any batch it has not heard of for a poll interval. Every
request is bounded by the client's timeout; the whole follow only by its own deadline.

:class:`WatchSet` holds the decisions (which batches, what is news, when all ended) as plain
data, so they are tested without sockets. The event classes and the subscription are imported
when a follow starts, so a client that never waits does not load them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from batchd.client.errors import DaemonUnreachable, WaitTimeout
from batchd.protocol.batch_messages import BatchProgress, ListReply, has_ended

if TYPE_CHECKING:
    from batchd.client.subscription import EventSubscription

DEFAULT_POLL_INTERVAL = 1.0


class ProgressSource(Protocol):
    """What following needs from a Client."""

    def progress(self, batch: int) -> BatchProgress:
        """The batch's progress now."""
        ...

    def list_batches(self, all: bool = False) -> ListReply:
        """The active batches."""
        ...

    def batch_events(self, topics: Sequence[str]) -> EventSubscription:
        """A subscription without deadline to the given topics."""
        ...


@dataclass
class WatchSet:
    """The batches being followed, the latest progress of each, and when each was heard of.

    ``everything`` follows every active batch, including those that appear later.
    """

    everything: bool
    latest: dict[int, BatchProgress] = field(default_factory=dict)
    heard: dict[int, float] = field(default_factory=dict)
    wanted: set[int] = field(default_factory=set)

    def update(self, progress: BatchProgress, now: float) -> bool:
        """Record `progress`; True when it is news to show (a watched batch that changed).

        A batch that reached a terminal state stays there for the watch: later reports for
        it (an event older than the poll that saw the end) are ignored.
        """
        if progress.id not in self.wanted:
            if not self.everything or has_ended(progress):
                return False
            self.wanted.add(progress.id)
        self.heard[progress.id] = now
        previous = self.latest.get(progress.id)
        if previous is not None and has_ended(previous):
            return False
        if previous == progress:
            return False
        self.latest[progress.id] = progress
        return True

    def unknown(self) -> list[int]:
        """Watched batches with no progress yet."""
        return sorted(self.wanted.difference(self.latest))

    def stale(self, now: float, interval: float) -> list[int]:
        """Unfinished batches not heard of for `interval` seconds: poll them."""
        return sorted(
            batch
            for batch in self.wanted
            if not self.ended(batch) and now - self.heard.get(batch, -interval) >= interval
        )

    def ended(self, batch: int) -> bool:
        """Whether the batch reached a terminal state."""
        progress = self.latest.get(batch)
        return progress is not None and has_ended(progress)

    @property
    def finished(self) -> bool:
        """Whether every watched batch ended (true for an empty set)."""
        return all(self.ended(batch) for batch in self.wanted)


def follow(
    source: ProgressSource,
    batches: Sequence[int] | None,
    *,
    poll_interval: float = DEFAULT_POLL_INTERVAL,
    timeout: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[BatchProgress]:
    """Yield progress updates of `batches` (None: every active batch) until all ended.

    The first update of each batch is its state at the start. Raises WaitTimeout when
    `timeout` seconds pass first, BatchNotFound for an unknown batch id.
    """
    from batchd.protocol.events import BATCH_TOPIC_PREFIX, batch_topic

    if not poll_interval > 0:
        raise ValueError(f"poll_interval must be positive, got {poll_interval!r}")
    deadline = None if timeout is None else clock() + timeout
    watch = WatchSet(everything=batches is None, wanted=set(batches or ()))
    topics = [BATCH_TOPIC_PREFIX] if batches is None else [batch_topic(b) for b in watch.wanted]
    events = _subscribe(source, topics)
    try:
        # Subscribe first, then read the current state: nothing falls between the two.
        for progress in _current(source, watch):
            if watch.update(progress, clock()):
                yield progress
        while not watch.finished:
            now = clock()
            if deadline is not None and now >= deadline:
                raise _timed_out(watch, timeout)
            wait = poll_interval if deadline is None else min(poll_interval, deadline - now)
            for progress in _next_updates(
                source, watch, events, wait=wait, poll_interval=poll_interval, clock=clock
            ):
                if watch.update(progress, clock()):
                    yield progress
    finally:
        if events is not None:
            events.close()


def _subscribe(source: ProgressSource, topics: Sequence[str]) -> EventSubscription | None:
    try:
        return source.batch_events(topics)
    except (DaemonUnreachable, ValueError):
        return None  # no event socket (or none derivable from a tcp endpoint): poll only


def _current(source: ProgressSource, watch: WatchSet) -> list[BatchProgress]:
    if watch.everything:
        return list(source.list_batches().batches)
    return [source.progress(batch) for batch in sorted(watch.wanted)]


def _next_updates(
    source: ProgressSource,
    watch: WatchSet,
    events: EventSubscription | None,
    *,
    wait: float,
    poll_interval: float,
    clock: Callable[[], float],
) -> list[BatchProgress]:
    """Progress from the next event within `wait`, plus polls of what went quiet."""
    from batchd.protocol.events import BatchProgressEvent

    updates: list[BatchProgress] = []
    if events is not None and not events.closed:
        frame = events.receive(wait)
        if frame is not None and isinstance(frame.event, BatchProgressEvent):
            updates.append(frame.event.progress)
    elif wait > 0:
        time.sleep(wait)
    stale = watch.stale(clock(), poll_interval)
    if not stale:
        return updates
    if watch.everything:
        # One request catches new batches too; those that ended dropped out of the active
        # list, so ask for them one by one.
        listed = list(source.list_batches().batches)
        seen = {progress.id for progress in listed}
        return updates + listed + [source.progress(b) for b in stale if b not in seen]
    return updates + [source.progress(batch) for batch in stale]


def _timed_out(watch: WatchSet, timeout: float | None) -> WaitTimeout:
    running = [b for b in sorted(watch.wanted) if not watch.ended(b)]
    names = ", ".join(str(b) for b in running)
    return WaitTimeout(
        f"batch {names} did not end within {timeout:g} s; it goes on in the daemon",
        {"batches": running, "timeout": timeout},
    )
