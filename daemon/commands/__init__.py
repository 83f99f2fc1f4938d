"""Command handlers, one module per wire command, registered in one explicit table.

Each handler is ``handle(ctx, request) -> reply``; it raises ``batchd.protocol.errors`` classes
for expected failures. ``HANDLERS`` must name every command of ``batchd.protocol.messages``
(a test checks it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from batchd.daemon.commands import hello, ping, stats
from batchd.daemon.context import DaemonContext
from batchd.protocol.messages import HelloRequest, PingRequest, Reply, StatsRequest

Handler = Callable[[DaemonContext, Any], Reply]

HANDLERS: Mapping[type, Handler] = {
    HelloRequest: hello.handle,
    PingRequest: ping.handle,
    StatsRequest: stats.handle,
}
