"""Every request and reply of the control socket, and the table that pairs them.

A request class names its wire command in ``COMMAND``; ``COMMANDS`` maps each command to its
request and reply classes. Field names here are the wire field names (docs/protocol.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import ClassVar

from batchd.protocol.batch_messages import (
    BatchProgress,
    CancelRequest,
    ListReply,
    ListRequest,
    PauseRequest,
    ProgressRequest,
    ResumeRequest,
    RetryRequest,
    ShowReply,
    ShowRequest,
    SubmitBeginReply,
    SubmitBeginRequest,
    SubmitChunkReply,
    SubmitChunkRequest,
    SubmitEndRequest,
    UploadStatusReply,
    UploadStatusRequest,
)
from batchd.protocol.rollback_messages import (
    HistoryReply,
    HistoryRequest,
    PurgeReply,
    PurgeRequest,
    RollbackReply,
    RollbackRequest,
)


@dataclass(frozen=True, slots=True)
class HelloRequest:
    """Handshake: the client states its protocol version before anything else."""

    COMMAND: ClassVar[str] = "hello"
    protocol: int
    client: str = ""


@dataclass(frozen=True, slots=True)
class HelloReply:
    """The daemon's versions; sent only when the protocol versions match."""

    protocol: int
    daemon_version: str
    pid: int


@dataclass(frozen=True, slots=True)
class PingRequest:
    """Liveness check; answered without touching the journal."""

    COMMAND: ClassVar[str] = "ping"


@dataclass(frozen=True, slots=True)
class PingReply:
    """Versions, uptime and how the daemon's previous run ended."""

    daemon_version: str
    protocol: int
    pid: int
    uptime: float
    started_at: float
    last_stop_clean: bool | None
    state_dir: str


@dataclass(frozen=True, slots=True)
class StatsRequest:
    """Resource figures of the daemon (workers join in later protocol versions)."""

    COMMAND: ClassVar[str] = "stats"


@dataclass(frozen=True, slots=True)
class JournalStats:
    """Counters of the journal writer since the daemon started."""

    segments: int
    bytes: int
    durable_lsn: int
    records: int
    commits: int
    fsyncs: int
    error: str = ""


@dataclass(frozen=True, slots=True)
class BatchCpuLimit:
    """The CPU cap of one batch's workers and their commands, percent of the machine."""

    batch: int
    cpu_limit_percent: int


@dataclass(frozen=True, slots=True)
class LimitsInForce:
    """Configured limits as the daemon applies them, and the CPU caps of running batches."""

    max_workers: int
    enable_checkpoint: bool
    enable_rollback: bool
    cpu_limit_percent: int
    worker_memory_limit_mb: int
    total_memory_limit_mb: int
    memory_enforcement: str = "psutil"
    batch_cpu_limits: tuple[BatchCpuLimit, ...] = ()


@dataclass(frozen=True, slots=True)
class LimitsRequest:
    """Change limits at run time (nil: leave as is); until restart, the config file rules
    after it. With ``batch``, ``cpu_limit_percent`` is that batch's cap (100: none). The
    reply is the LimitsInForce after the change."""

    COMMAND: ClassVar[str] = "limits"
    max_workers: int | None = None
    cpu_limit_percent: int | None = None
    worker_memory_limit_mb: int | None = None
    total_memory_limit_mb: int | None = None
    batch: int | None = None


@dataclass(frozen=True, slots=True)
class LimitActions:
    """How often the resource limits acted since the daemon started."""

    cpu_throttles: int
    cpu_throttled_seconds: float
    memory_kills: int
    total_memory_kills: int
    kernel_oom_kills: int = 0


@dataclass(frozen=True, slots=True)
class WorkerStats:
    """One worker process (filled in once the worker pool exists)."""

    pid: int
    state: str
    cpu_percent: float
    rss: int
    batch: int | None = None
    item: int | None = None


@dataclass(frozen=True, slots=True)
class StatsReply:
    """The daemon process's own resource use, its journal and its limits."""

    pid: int
    uptime: float
    rss: int
    cpu_percent: float
    cpu_user: float
    cpu_system: float
    threads: int
    open_fds: int
    journal: JournalStats
    limits: LimitsInForce
    limit_actions: LimitActions
    workers: tuple[WorkerStats, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class Command:
    """A wire command: its name and the classes of its request and reply."""

    name: str
    request: type
    reply: type


def _table(*pairs: tuple[type, type]) -> Mapping[str, Command]:
    table = {}
    for request, reply in pairs:
        name = request.COMMAND  # type: ignore[attr-defined]
        table[name] = Command(name, request, reply)
    return MappingProxyType(table)


COMMANDS: Mapping[str, Command] = _table(
    (HelloRequest, HelloReply),
    (PingRequest, PingReply),
    (StatsRequest, StatsReply),
    (LimitsRequest, LimitsInForce),
    (SubmitBeginRequest, SubmitBeginReply),
    (SubmitChunkRequest, SubmitChunkReply),
    (SubmitEndRequest, UploadStatusReply),
    (UploadStatusRequest, UploadStatusReply),
    (ProgressRequest, BatchProgress),
    (ListRequest, ListReply),
    (ShowRequest, ShowReply),
    (PauseRequest, BatchProgress),
    (ResumeRequest, BatchProgress),
    (CancelRequest, BatchProgress),
    (RetryRequest, BatchProgress),
    (RollbackRequest, RollbackReply),
    (HistoryRequest, HistoryReply),
    (PurgeRequest, PurgeReply),
)

Request = (
    HelloRequest
    | PingRequest
    | StatsRequest
    | LimitsRequest
    | SubmitBeginRequest
    | SubmitChunkRequest
    | SubmitEndRequest
    | UploadStatusRequest
    | ProgressRequest
    | ListRequest
    | ShowRequest
    | PauseRequest
    | ResumeRequest
    | CancelRequest
    | RetryRequest
    | RollbackRequest
    | HistoryRequest
    | PurgeRequest
)
Reply = (
    HelloReply
    | PingReply
    | StatsReply
    | LimitsInForce
    | SubmitBeginReply
    | SubmitChunkReply
    | UploadStatusReply
    | BatchProgress
    | ListReply
    | ShowReply
    | RollbackReply
    | HistoryReply
    | PurgeReply
)
