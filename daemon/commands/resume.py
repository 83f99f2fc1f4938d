"""``resume``: run a paused or interrupted batch again. CLI: ``batchctl resume ID``."""

from __future__ import annotations

import time

from batchd.daemon.context import DaemonContext
from batchd.daemon.journal.records import BatchControl
from batchd.protocol.batch_messages import BatchProgress, BatchState, ResumeRequest
from batchd.protocol.errors import InvalidArguments


def handle(ctx: DaemonContext, request: ResumeRequest) -> BatchProgress:
    """Resume a paused or interrupted batch."""
    batch = ctx.engine.registry.get(request.batch)
    if batch.state not in (BatchState.PAUSED, BatchState.INTERRUPTED):
        raise InvalidArguments(f"batch {batch.id} is {batch.state.value}, not paused")
    batch.resume()
    ctx.journal.append(BatchControl(batch.id, "resume", time.time()))
    return batch.progress(time.monotonic(), time.time())
