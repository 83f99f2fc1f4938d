"""``retry``: run the failed items of an ended batch again. CLI: ``batchctl retry ID``."""

from __future__ import annotations

import time

from batchd.daemon.context import DaemonContext
from batchd.daemon.journal.records import BatchControl
from batchd.protocol.batch_messages import BatchProgress, BatchState, RetryRequest
from batchd.protocol.errors import InvalidArguments


def handle(ctx: DaemonContext, request: RetryRequest) -> BatchProgress:
    """Re-run failed items; the batch is running again."""
    batch = ctx.engine.registry.get(request.batch)
    if batch.state is not BatchState.FAILED:
        raise InvalidArguments(
            f"batch {batch.id} is {batch.state.value}; only a failed batch can be retried"
        )
    now = time.monotonic()
    batch.retry_failed(now)
    ctx.journal.append(BatchControl(batch.id, "retry", time.time()))
    return batch.progress(now, time.time())
