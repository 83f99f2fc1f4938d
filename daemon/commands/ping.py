"""``ping``: liveness and versions. Wire: no args → PingReply. CLI: ``batchctl ping``."""

from __future__ import annotations

import os

from batchd.daemon.context import DaemonContext
from batchd.protocol.messages import PingReply, PingRequest
from batchd.protocol.version import BATCHD_VERSION, PROTOCOL_VERSION


def handle(ctx: DaemonContext, request: PingRequest) -> PingReply:
    """Answer with versions, uptime and whether the previous run stopped cleanly."""
    return PingReply(
        daemon_version=BATCHD_VERSION,
        protocol=PROTOCOL_VERSION,
        pid=os.getpid(),
        uptime=ctx.uptime(),
        started_at=ctx.started_at,
        last_stop_clean=ctx.history.last_stop_clean,
        state_dir=str(ctx.paths.state_dir),
    )
