"""``submit_end``: close an upload and start validating it; poll ``upload_status`` after.

A batch id is reserved now (the validator names temporary files after it); a dry run gets none.
The log says who submitted it: "uid 1000 (pid 4242) submitted batch 7 (…)".
"""

from __future__ import annotations

import logging
import time
from importlib.metadata import entry_points

from batchd.daemon.context import DaemonContext
from batchd.daemon.peers import requesting_peer
from batchd.protocol.batch_messages import SubmitEndRequest, UploadState, UploadStatusReply

HANDLER_GROUP = "batchd.handlers"

log = logging.getLogger(__name__)


def handle(ctx: DaemonContext, request: SubmitEndRequest) -> UploadStatusReply:
    """Start validation and report the upload's state (usually ``validating``)."""
    uploads = ctx.engine.uploads
    upload = uploads.get(request.upload)
    if upload.state is not UploadState.RECEIVING:  # a repeated submit_end: just report
        return upload.status()
    batch_id = None if upload.dry_run else ctx.engine.registry.reserve_id()
    upload.submitter = requesting_peer().describe()
    handlers = sorted(entry_points(group=HANDLER_GROUP).names)
    status = uploads.end(request.upload, batch_id, handlers, time.monotonic()).status()
    what = "a dry run" if batch_id is None else f"batch {batch_id}"
    log.info(
        "%s submitted %s (upload %s, %r, %d items, %d bytes); validating",
        requesting_peer().describe(),
        what,
        upload.id,
        upload.name,
        upload.items,
        upload.received,
    )
    return status
