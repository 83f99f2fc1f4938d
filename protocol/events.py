"""Events published on the event socket, with their topics.

A subscriber filters by topic prefix: ``daemon`` for the daemon's own state (later versions add
``batch.<id>``). ``EVENTS`` maps the wire ``type`` string to its class.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import ClassVar

DAEMON_TOPIC = "daemon"


class DaemonState(enum.Enum):
    """What the daemon is doing, as published in DaemonStatus."""

    RUNNING = "running"
    STOPPING = "stopping"


@dataclass(frozen=True, slots=True)
class DaemonStatus:
    """The daemon's state: sent at start, every heartbeat interval, and when stopping."""

    TYPE: ClassVar[str] = "daemon.status"
    state: DaemonState
    pid: int
    uptime: float

    @property
    def topic(self) -> str:
        """The topic this event is published under."""
        return DAEMON_TOPIC


Event = DaemonStatus

EVENTS: Mapping[str, type[Event]] = MappingProxyType({DaemonStatus.TYPE: DaemonStatus})
