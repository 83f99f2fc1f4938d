"""``rollback``: plan the undo of batches (newest first) and start it as a batch of its own.
CLI: ``batchctl rollback ID… [--items SPEC] [--paths GLOB] [--dry-run] [--force]``, ``undo``."""

from __future__ import annotations

import time

from batchd.daemon.context import DaemonContext
from batchd.protocol.rollback_messages import RollbackReply, RollbackRequest


def handle(ctx: DaemonContext, request: RollbackRequest) -> RollbackReply:
    """Answer with the rollback batch's id (or a dry run's preview)."""
    return ctx.rollbacks.request(request, time.monotonic(), time.time())
