"""``list``: the batches with their progress (active ones, or all). CLI: ``batchctl list``."""

from __future__ import annotations

import time

from batchd.daemon.context import DaemonContext
from batchd.protocol.batch_messages import ListReply, ListRequest


def handle(ctx: DaemonContext, request: ListRequest) -> ListReply:
    """Progress of each batch, oldest first."""
    now, wall = time.monotonic(), time.time()
    registry = ctx.engine.registry
    batches = list(registry) if request.all else registry.active()
    return ListReply(tuple(batch.progress(now, wall) for batch in batches))
