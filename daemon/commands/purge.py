"""``purge``: drop the undo data of ended batches. CLI: ``batchctl purge ID… | --older-than
DAYS``."""

from __future__ import annotations

import time

from batchd.daemon.context import DaemonContext
from batchd.protocol.rollback_messages import PurgeReply, PurgeRequest


def handle(ctx: DaemonContext, request: PurgeRequest) -> PurgeReply:
    """Purge and say how much that freed."""
    return ctx.purger.request(request, time.time())
