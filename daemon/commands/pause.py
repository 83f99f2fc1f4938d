"""``pause``: start no new items of a batch; running ones finish. CLI: ``batchctl pause ID``."""

from __future__ import annotations

import time

from batchd.daemon.context import DaemonContext
from batchd.daemon.journal.records import BatchControl
from batchd.protocol.batch_messages import BatchProgress, BatchState, PauseRequest
from batchd.protocol.errors import InvalidArguments


def handle(ctx: DaemonContext, request: PauseRequest) -> BatchProgress:
    """Pause a running batch."""
    batch = ctx.engine.registry.get(request.batch)
    if batch.state is not BatchState.RUNNING:
        raise InvalidArguments(f"batch {batch.id} is {batch.state.value}, not running")
    ctx.engine.pause(batch, time.monotonic())
    ctx.journal.append(BatchControl(batch.id, "pause", time.time()))
    return batch.progress(time.monotonic(), time.time())
