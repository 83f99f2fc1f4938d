"""``submit_end``: close an upload and start validating it; poll ``upload_status`` after.

A batch id is reserved now (the validator names temporary files after it); a dry run gets none.
"""

from __future__ import annotations

import time
from importlib.metadata import entry_points

from batchd.daemon.context import DaemonContext
from batchd.protocol.batch_messages import SubmitEndRequest, UploadState, UploadStatusReply

HANDLER_GROUP = "batchd.handlers"


def handle(ctx: DaemonContext, request: SubmitEndRequest) -> UploadStatusReply:
    """Start validation and report the upload's state (usually ``validating``)."""
    uploads = ctx.engine.uploads
    upload = uploads.get(request.upload)
    if upload.state is not UploadState.RECEIVING:  # a repeated submit_end: just report
        return upload.status()
    batch_id = None if upload.dry_run else ctx.engine.registry.reserve_id()
    handlers = sorted(entry_points(group=HANDLER_GROUP).names)
    return uploads.end(request.upload, batch_id, handlers, time.monotonic()).status()
