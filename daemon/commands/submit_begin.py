"""``submit_begin``: open a plan upload. CLI: ``batchctl submit PLAN`` (and the convenience
commands) start with it; the plan then streams in with ``submit_chunk``."""

from __future__ import annotations

import time

from batchd.daemon.context import DaemonContext
from batchd.protocol.batch_messages import SubmitBeginReply, SubmitBeginRequest


def handle(ctx: DaemonContext, request: SubmitBeginRequest) -> SubmitBeginReply:
    """Create the upload and tell the client how big its chunks may be."""
    return ctx.engine.uploads.begin(request, time.monotonic())
