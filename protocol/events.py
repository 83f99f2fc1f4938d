"""Events published on the event socket, with their topics.

A subscriber filters by topic prefix: ``daemon`` for the daemon's own state, ``batch.<id>`` for
one batch (``batch.`` for all). ``EVENTS`` maps the wire ``type`` string to its class.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import ClassVar

from batchd.protocol.batch_messages import BatchProgress, ItemState
from batchd.protocol.messages import LimitActions, LimitsInForce, WorkerStats

DAEMON_TOPIC = "daemon"
BATCH_TOPIC_PREFIX = "batch."


class DaemonState(enum.Enum):
    """What the daemon is doing, as published in DaemonStatus."""

    RUNNING = "running"
    STOPPING = "stopping"


@dataclass(frozen=True, slots=True)
class DaemonStatus:
    """The daemon's state: sent at start, every heartbeat interval, to each new subscriber of
    ``daemon``, and when stopping."""

    TYPE: ClassVar[str] = "daemon.status"
    state: DaemonState
    pid: int
    uptime: float

    @property
    def topic(self) -> str:
        """The topic this event is published under."""
        return DAEMON_TOPIC


@dataclass(frozen=True, slots=True)
class DaemonStats:
    """The worker figures of ``stats``: every 2 s at most while workers run (once more when
    they stop), and when the limits change."""

    TYPE: ClassVar[str] = "daemon.stats"
    pid: int
    workers: tuple[WorkerStats, ...]
    limits: LimitsInForce
    limit_actions: LimitActions

    @property
    def topic(self) -> str:
        """The topic this event is published under."""
        return DAEMON_TOPIC


def batch_topic(batch: int) -> str:
    """The topic of one batch's events; subscribe to ``batch.`` for every batch."""
    return f"{BATCH_TOPIC_PREFIX}{batch}"


@dataclass(frozen=True, slots=True)
class BatchProgressEvent:
    """A batch's progress: on every state change, to each new subscriber of its topic, and at
    most every 0.2 s while it runs (rate-limited so a fast batch does not flood subscribers)."""

    TYPE: ClassVar[str] = "batch.progress"
    progress: BatchProgress

    @property
    def topic(self) -> str:
        """The topic this event is published under."""
        return batch_topic(self.progress.id)


@dataclass(frozen=True, slots=True)
class ItemChange:
    """One item that completed, failed for good or was scheduled for a retry."""

    index: int
    line: int
    state: ItemState
    error: str


@dataclass(frozen=True, slots=True)
class BatchItemsEvent:
    """Item-level changes of a batch since the previous such event; ``dropped`` counts the
    changes left out to keep the event small (progress counters stay exact)."""

    TYPE: ClassVar[str] = "batch.items"
    batch: int
    items: tuple[ItemChange, ...]
    dropped: int

    @property
    def topic(self) -> str:
        """The topic this event is published under."""
        return batch_topic(self.batch)


Event = DaemonStatus | DaemonStats | BatchProgressEvent | BatchItemsEvent

EVENTS: Mapping[str, type[Event]] = MappingProxyType(
    {cls.TYPE: cls for cls in (DaemonStatus, DaemonStats, BatchProgressEvent, BatchItemsEvent)}
)
