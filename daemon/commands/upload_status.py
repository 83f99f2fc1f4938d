"""``upload_status``: where validation of an upload stands; ``accepted`` names the batch."""

from __future__ import annotations

import time

from batchd.daemon.context import DaemonContext
from batchd.protocol.batch_messages import UploadStatusReply, UploadStatusRequest


def handle(ctx: DaemonContext, request: UploadStatusRequest) -> UploadStatusReply:
    """Report the upload's state, problems or batch id."""
    return ctx.engine.uploads.get(request.upload, time.monotonic()).status()
