"""``cancel``: stop a batch for good; running items finish, the rest are skipped.
CLI: ``batchctl cancel ID``."""

from __future__ import annotations

import time

from batchd.daemon.context import DaemonContext
from batchd.daemon.journal.records import BatchControl
from batchd.protocol.batch_messages import TERMINAL_STATES, BatchProgress, CancelRequest
from batchd.protocol.errors import InvalidArguments


def handle(ctx: DaemonContext, request: CancelRequest) -> BatchProgress:
    """Cancel a batch that has not ended."""
    batch = ctx.engine.registry.get(request.batch)
    if batch.state in TERMINAL_STATES:
        raise InvalidArguments(f"batch {batch.id} already ended ({batch.state.value})")
    now = time.monotonic()
    ctx.engine.cancel(batch, now)
    ctx.journal.append(BatchControl(batch.id, "cancel", time.time()))
    return batch.progress(now, time.time())
