"""Streaming a plan to the daemon: ``submit_begin``, ``submit_chunk``…, ``submit_end``, then
``upload_status`` until validation ends.

No single request is large or slow, so a plan of a million lines goes through with the
default 5 s timeout: each chunk is at most the ``chunk_bytes`` the daemon asked for (split
anywhere, even inside a line or a UTF-8 sequence; the daemon reassembles the bytes in order),
and validation is awaited by polling, each poll bounded by the timeout.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Callable, Iterator
from typing import IO, Protocol, TypeVar

from batchd.protocol.batch_messages import (
    SubmitBeginReply,
    SubmitBeginRequest,
    SubmitChunkReply,
    SubmitChunkRequest,
    SubmitEndRequest,
    UploadState,
    UploadStatusReply,
    UploadStatusRequest,
)
from batchd.protocol.codec import MAX_MESSAGE_BYTES
from batchd.protocol.errors import MalformedMessage
from batchd.protocol.messages import Request

R = TypeVar("R")

UNKNOWN_SIZE = -1
"""The ``total`` an upload callback gets while the plan's size is unknown (a pipe)."""

# Room for the envelope around a chunk's data (ids, field names, msgpack headers).
_ENVELOPE_ALLOWANCE = 4096
POLL_FIRST = 0.05
POLL_MAX = 0.2

FINAL_STATES = frozenset({UploadState.ACCEPTED, UploadState.INVALID, UploadState.CHECKED})

UploadCallback = Callable[[int, int], None]
"""Called with (bytes sent, plan size or UNKNOWN_SIZE) after each chunk; once more with
(size, size) when everything was sent and validation starts."""


class Requester(Protocol):
    """Sends one request and returns its reply within the client's timeout."""

    def __call__(self, message: Request, reply_type: type[R]) -> R: ...


def submit_plan(
    request: Requester,
    plan: bytes | IO[bytes],
    *,
    name: str,
    cwd: bytes,
    dry_run: bool,
    priority: int,
    on_upload: UploadCallback | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> UploadStatusReply:
    """Stream `plan`, close the upload and poll until it is accepted, invalid or checked."""
    begin = request(SubmitBeginRequest(name, cwd, dry_run, priority), SubmitBeginReply)
    chunk_bytes = min(begin.chunk_bytes, MAX_MESSAGE_BYTES - _ENVELOPE_ALLOWANCE)
    if chunk_bytes <= 0:
        raise MalformedMessage(f"the daemon asked for chunks of {begin.chunk_bytes} bytes")
    total = plan_size(plan)
    sent = 0
    for seq, data in enumerate(chunks(plan, chunk_bytes)):
        reply = request(SubmitChunkRequest(begin.upload, seq, data), SubmitChunkReply)
        sent += len(data)
        if reply.received != sent:
            raise MalformedMessage(
                f"upload {begin.upload}: the daemon holds {reply.received} bytes of the plan, "
                f"{sent} were sent"
            )
        if on_upload is not None:
            on_upload(sent, total)
    if on_upload is not None:
        on_upload(sent, sent)
    status = request(SubmitEndRequest(begin.upload), UploadStatusReply)
    return await_validation(request, status, sleep)


def await_validation(
    request: Requester, status: UploadStatusReply, sleep: Callable[[float], None] = time.sleep
) -> UploadStatusReply:
    """Poll ``upload_status`` (every 50 ms at first, backing off to 200 ms) until final."""
    interval = POLL_FIRST
    while status.state not in FINAL_STATES:
        sleep(interval)
        interval = min(POLL_MAX, interval * 1.5)
        status = request(UploadStatusRequest(status.upload), UploadStatusReply)
    return status


def plan_size(plan: bytes | IO[bytes]) -> int:
    """The bytes left to read in `plan`, or UNKNOWN_SIZE for a pipe or socket."""
    if isinstance(plan, bytes | bytearray | memoryview):
        return len(plan)
    try:
        if not plan.seekable():
            return UNKNOWN_SIZE
        position = plan.tell()
        end = plan.seek(0, io.SEEK_END)
        plan.seek(position)
        return end - position
    except (OSError, ValueError):
        try:
            return os.fstat(plan.fileno()).st_size
        except (OSError, ValueError):
            return UNKNOWN_SIZE


def chunks(plan: bytes | IO[bytes], size: int) -> Iterator[bytes]:
    """Pieces of at most `size` bytes, in order; nothing for an empty plan."""
    if isinstance(plan, bytes | bytearray | memoryview):
        view = memoryview(plan)
        for start in range(0, len(view), size):
            yield bytes(view[start : start + size])
        return
    pending = b""
    while True:
        # read() on a pipe may return less than asked: gather full chunks for fewer requests.
        data = plan.read(size - len(pending))
        if not data:
            break
        pending += data
        if len(pending) == size:
            yield pending
            pending = b""
    if pending:
        yield pending
