"""``submit_chunk``: append the next piece of an uploading plan (in order, by ``seq``)."""

from __future__ import annotations

import time

from batchd.daemon.context import DaemonContext
from batchd.protocol.batch_messages import SubmitChunkReply, SubmitChunkRequest


def handle(ctx: DaemonContext, request: SubmitChunkRequest) -> SubmitChunkReply:
    """Spool the chunk."""
    return ctx.engine.uploads.chunk(request, time.monotonic())
