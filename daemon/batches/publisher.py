"""Progress events: on every state change at once, otherwise at most a few per second.

A batch finishing 50,000 items a second must not flood subscribers: item changes are gathered
between publications (at most ``batch.MAX_NOTED_CHANGES`` of them; ``dropped`` counts the rest,
and the progress counters stay exact) and sent in one ``BatchItemsEvent``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from batchd.daemon.batches.batch import Batch
from batchd.protocol.batch_messages import BatchState
from batchd.protocol.events import BatchItemsEvent, BatchProgressEvent, Event, batch_topic

INTERVAL = 0.2
"""Seconds between two progress events of one batch (state changes go out at once)."""


class ProgressPublisher:
    """Decides when each batch's events go out."""

    def __init__(self, publish: Callable[[Event], None]) -> None:
        self._publish = publish
        self._last_sent: dict[int, float] = {}
        self._last_state: dict[int, BatchState] = {}
        self._due: float | None = None

    def next_due(self) -> float | None:
        """When pending changes should be published next."""
        return self._due

    def publish(
        self, batches: Sequence[Batch], now: float, wall: float, subscriptions: Iterable[str]
    ) -> None:
        """Publish what is due; ``subscriptions`` are topics subscribed to since last time."""
        fresh = list(subscriptions)
        self._due = None
        for batch in batches:
            state_changed = self._last_state.get(batch.id) is not batch.state
            topic = batch_topic(batch.id)
            wanted = any(topic.startswith(t) for t in fresh)
            if not (state_changed or wanted or batch.changes):
                continue
            if not (state_changed or wanted) and now - self._last_sent.get(batch.id, -1e9) < (
                INTERVAL
            ):
                due = self._last_sent[batch.id] + INTERVAL
                self._due = due if self._due is None else min(self._due, due)
                continue
            if batch.changes:
                changes, dropped = tuple(batch.changes), batch.changes_dropped
                batch.changes.clear()
                batch.changes_dropped = 0
                self._publish(BatchItemsEvent(batch.id, changes, dropped))
            self._publish(BatchProgressEvent(batch.progress(now, wall)))
            self._last_sent[batch.id] = now
            self._last_state[batch.id] = batch.state
