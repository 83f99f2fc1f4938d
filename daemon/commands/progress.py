"""``progress``: one batch's ``total, completed, failed, progress, eta`` and more.
CLI: ``batchctl progress ID``."""

from __future__ import annotations

import time

from batchd.daemon.context import DaemonContext
from batchd.protocol.batch_messages import BatchProgress, ProgressRequest


def handle(ctx: DaemonContext, request: ProgressRequest) -> BatchProgress:
    """The batch's progress at this instant."""
    return ctx.engine.registry.get(request.batch).progress(time.monotonic(), time.time())
