"""Command handlers, one module per wire command, registered in one explicit table.

Each handler is ``handle(ctx, request) -> reply``; it raises ``batchd.protocol.errors`` classes
for expected failures. ``HANDLERS`` must name every command of ``batchd.protocol.messages``
(a test checks it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from batchd.daemon.commands import (
    cancel,
    hello,
    history,
    limits,
    list_batches,
    pause,
    ping,
    progress,
    purge,
    resume,
    retry,
    rollback,
    show,
    stats,
    submit_begin,
    submit_chunk,
    submit_end,
    upload_status,
)
from batchd.daemon.context import DaemonContext
from batchd.protocol.batch_messages import (
    CancelRequest,
    ListRequest,
    PauseRequest,
    ProgressRequest,
    ResumeRequest,
    RetryRequest,
    ShowRequest,
    SubmitBeginRequest,
    SubmitChunkRequest,
    SubmitEndRequest,
    UploadStatusRequest,
)
from batchd.protocol.messages import (
    HelloRequest,
    LimitsRequest,
    PingRequest,
    Reply,
    StatsRequest,
)
from batchd.protocol.rollback_messages import HistoryRequest, PurgeRequest, RollbackRequest

Handler = Callable[[DaemonContext, Any], Reply]

HANDLERS: Mapping[type, Handler] = {
    HelloRequest: hello.handle,
    PingRequest: ping.handle,
    StatsRequest: stats.handle,
    LimitsRequest: limits.handle,
    SubmitBeginRequest: submit_begin.handle,
    SubmitChunkRequest: submit_chunk.handle,
    SubmitEndRequest: submit_end.handle,
    UploadStatusRequest: upload_status.handle,
    ProgressRequest: progress.handle,
    ListRequest: list_batches.handle,
    ShowRequest: show.handle,
    PauseRequest: pause.handle,
    ResumeRequest: resume.handle,
    CancelRequest: cancel.handle,
    RetryRequest: retry.handle,
    RollbackRequest: rollback.handle,
    HistoryRequest: history.handle,
    PurgeRequest: purge.handle,
}
