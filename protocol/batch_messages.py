"""Requests, replies and shared records of batches: submit, progress, list, show, control.

A plan travels as a stream of messages so that no single message is large: ``submit_begin``
opens an upload, ``submit_chunk`` appends raw JSON Lines bytes in order, ``submit_end`` closes
it and starts validation, and ``upload_status`` reports the outcome (the batch id once the
plan is valid and durably journaled, or every problem with its line number).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import ClassVar


class BatchState(enum.Enum):
    """Life cycle of a batch (contract.md)."""

    PENDING = "pending"
    RUNNING = "running"
    PAUSED = "paused"
    INTERRUPTED = "interrupted"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    ROLLING_BACK = "rolling_back"
    ROLLED_BACK = "rolled_back"
    PARTIALLY_ROLLED_BACK = "partially_rolled_back"


TERMINAL_STATES = frozenset(
    {
        BatchState.COMPLETED,
        BatchState.FAILED,
        BatchState.CANCELLED,
        BatchState.ROLLED_BACK,
        BatchState.PARTIALLY_ROLLED_BACK,
    }
)


class ItemState(enum.Enum):
    """Where one item of a batch stands."""

    PENDING = "pending"
    RUNNING = "running"
    RETRY_WAIT = "retry_wait"
    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED = "skipped"


class UploadState(enum.Enum):
    """Where a plan upload stands."""

    RECEIVING = "receiving"
    VALIDATING = "validating"
    INVALID = "invalid"
    ACCEPTED = "accepted"
    CHECKED = "checked"


@dataclass(frozen=True, slots=True)
class BatchProgress:
    """Progress of one batch; the first eight fields are the contract's fixed names.

    ``progress`` = (completed + failed) / total in [0, 1]; ``eta`` is seconds remaining, nil
    until the first item finished, 0 once the batch ended; ``rate`` items per second, smoothed;
    times are seconds. ``rollback_of`` names the batches this batch undoes (a rollback
    batch; its failed items are conflicts, also counted in ``conflicts``); ``rolled_back``
    counts this batch's items that a rollback has undone. ``note`` says why a batch does not
    move on its own (paused by a full disk, stalled by a journal write error); else empty.
    """

    id: int
    name: str
    state: BatchState
    total: int
    completed: int
    failed: int
    progress: float
    eta: float | None
    rate: float
    running: int
    pending: int
    elapsed: float
    retried: int
    priority: int
    submitted_at: float
    finished_at: float | None
    rollback_of: tuple[int, ...] = ()
    rolled_back: int = 0
    conflicts: int = 0
    note: str = ""


def has_ended(progress: BatchProgress) -> bool:
    """True once a batch is in a final state AND nothing of it runs anymore (a cancelled
    batch is ``cancelled`` at once, but its running items still finish)."""
    return progress.state in TERMINAL_STATES and progress.finished_at is not None


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem of a plan: the 1-based line (0: not about one line) and what is wrong."""

    line: int
    message: str


@dataclass(frozen=True, slots=True)
class PlannedStep:
    """One validated step, as previewed after validation (``index`` in validation order)."""

    index: int
    line: int
    op: str
    path: bytes
    dest: bytes | None
    level: int


@dataclass(frozen=True, slots=True)
class SubmitBeginRequest:
    """Open a plan upload. ``cwd`` (absolute; bytes: any file name) resolves relative paths."""

    COMMAND: ClassVar[str] = "submit_begin"
    name: str
    cwd: bytes
    dry_run: bool = False
    priority: int = 0


@dataclass(frozen=True, slots=True)
class SubmitBeginReply:
    """The upload's id and the largest ``data`` a chunk may carry."""

    upload: str
    chunk_bytes: int


@dataclass(frozen=True, slots=True)
class SubmitChunkRequest:
    """Append the next piece of the plan (raw JSON Lines bytes; split anywhere)."""

    COMMAND: ClassVar[str] = "submit_chunk"
    upload: str
    seq: int
    data: bytes


@dataclass(frozen=True, slots=True)
class SubmitChunkReply:
    """Bytes received so far."""

    upload: str
    received: int


@dataclass(frozen=True, slots=True)
class SubmitEndRequest:
    """Close the upload and start validation; the reply is an UploadStatusReply."""

    COMMAND: ClassVar[str] = "submit_end"
    upload: str


@dataclass(frozen=True, slots=True)
class UploadStatusRequest:
    """Ask how validation of an upload went."""

    COMMAND: ClassVar[str] = "upload_status"
    upload: str


@dataclass(frozen=True, slots=True)
class UploadStatusReply:
    """``accepted`` carries the batch id; ``invalid`` the problems (at most the first 1000 of
    ``problem_count``); ``checked`` (dry run) and ``accepted`` a preview of the validated steps
    (at most the first 1000)."""

    upload: str
    state: UploadState
    batch: int | None
    total: int
    problem_count: int
    problems: tuple[Problem, ...]
    preview: tuple[PlannedStep, ...]


@dataclass(frozen=True, slots=True)
class ProgressRequest:
    """Progress of one batch."""

    COMMAND: ClassVar[str] = "progress"
    batch: int


@dataclass(frozen=True, slots=True)
class ListRequest:
    """Batches the daemon knows: active ones, or all with ``all``."""

    COMMAND: ClassVar[str] = "list"
    all: bool = False


@dataclass(frozen=True, slots=True)
class ListReply:
    """Batches, oldest first."""

    batches: tuple[BatchProgress, ...]


@dataclass(frozen=True, slots=True)
class ItemInfo:
    """One item of a batch as ``show`` reports it."""

    index: int
    line: int
    op: str
    path: bytes
    dest: bytes | None
    state: ItemState
    attempts: int
    error: str
    result: str
    diagnostics: str


@dataclass(frozen=True, slots=True)
class ShowRequest:
    """A batch with its items (a page of them: ``offset``, ``limit``)."""

    COMMAND: ClassVar[str] = "show"
    batch: int
    failed_only: bool = False
    offset: int = 0
    limit: int = 1000


@dataclass(frozen=True, slots=True)
class ShowReply:
    """The batch's progress, one page of its items and how many items matched."""

    batch: BatchProgress
    items: tuple[ItemInfo, ...]
    matched: int


@dataclass(frozen=True, slots=True)
class PauseRequest:
    """Stop starting items of a batch (running ones finish)."""

    COMMAND: ClassVar[str] = "pause"
    batch: int


@dataclass(frozen=True, slots=True)
class ResumeRequest:
    """Start a paused or interrupted batch again."""

    COMMAND: ClassVar[str] = "resume"
    batch: int


@dataclass(frozen=True, slots=True)
class CancelRequest:
    """Stop a batch for good: running items finish, the rest are skipped."""

    COMMAND: ClassVar[str] = "cancel"
    batch: int


@dataclass(frozen=True, slots=True)
class RetryRequest:
    """Run the failed items of an ended batch again."""

    COMMAND: ClassVar[str] = "retry"
    batch: int
