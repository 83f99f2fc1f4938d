"""Output of batchctl: replies as one JSON document, or as aligned ``key: value`` lines.

Formatting only; no sockets and no argument parsing. Human output rounds and adds units;
JSON output keeps the reply's fields and raw numbers (enums as their values).
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import json
import re
from collections.abc import Mapping, Sequence

from batchd.protocol.messages import LimitsInForce, PingReply, StatsReply
from batchd.protocol.version import BATCHD_VERSION, PROTOCOL_VERSION

Rows = list[tuple[str, str]]


def to_jsonable(value: object) -> object:
    """A reply as plain JSON values: dataclasses as objects, enums as their values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return to_jsonable(value.value)
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, bytes):
        return value.hex()
    return value


def json_document(reply: object) -> str:
    """The reply as exactly one JSON document (no trailing newline)."""
    text = json.dumps(to_jsonable(reply), indent=2, ensure_ascii=False, allow_nan=False)
    return escape_surrogates(text)


def json_line(reply: object) -> str:
    """The reply as one compact JSON document on one line, for JSON Lines streams."""
    text = json.dumps(to_jsonable(reply), ensure_ascii=False, allow_nan=False)
    return escape_surrogates(text)


_SURROGATE = re.compile("[\ud800-\udfff]")


def escape_surrogates(text: str) -> str:
    """Write lone surrogates (file-name bytes that are not UTF-8, as ``os.fsdecode`` keeps
    them) as JSON ``\\udcXX`` escapes: they can only occur inside JSON strings, and a raw
    surrogate cannot be written as UTF-8."""
    return _SURROGATE.sub(lambda match: f"\\u{ord(match[0]):04x}", text)


def aligned(rows: Sequence[tuple[str, str]]) -> str:
    """``key: value`` lines with the values in one column."""
    width = max((len(key) for key, _ in rows), default=0) + 1
    return "\n".join(f"{key + ':':<{width}} {value}" for key, value in rows)


def duration(seconds: float) -> str:
    """A duration for people: ``42.0 s``, ``3m 05s``, ``2h 03m 05s``, ``4d 02h 03m``."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours:02d}h {minutes:02d}m"
    if hours:
        return f"{hours}h {minutes:02d}m {secs:02d}s"
    return f"{minutes}m {secs:02d}s"


def size(count: int) -> str:
    """A byte count for people, in binary units: ``512 B``, ``45.2 MiB``."""
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{count} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def timestamp(epoch: float) -> str:
    """A wall-clock time in the local zone, to the second."""
    return datetime.datetime.fromtimestamp(epoch).astimezone().isoformat(timespec="seconds")


def _last_stop(clean: bool | None) -> str:
    if clean is None:
        return "unknown (no previous run recorded)"
    return "clean" if clean else "not clean (recovered from the journal at start)"


def ping_rows(reply: PingReply, endpoint: str) -> Rows:
    """The rows of ``batchctl ping``."""
    return [
        ("daemon", f"batchd {reply.daemon_version} (pid {reply.pid})"),
        ("protocol", str(reply.protocol)),
        ("client", f"batchctl {BATCHD_VERSION} (protocol {PROTOCOL_VERSION})"),
        ("uptime", f"{duration(reply.uptime)} (since {timestamp(reply.started_at)})"),
        ("last stop", _last_stop(reply.last_stop_clean)),
        ("state dir", reply.state_dir),
        ("endpoint", endpoint),
    ]


def _on_off(flag: bool) -> str:
    return "on" if flag else "off"


def _mib_or_none(value: int) -> str:
    return f"{value} MiB" if value else "none"


def limits_rows(limits: LimitsInForce) -> Rows:
    """The rows of ``batchctl limits`` (and the limits part of ``stats``)."""
    return [
        ("max workers", str(limits.max_workers)),
        ("checkpoint", _on_off(limits.enable_checkpoint)),
        ("rollback", _on_off(limits.enable_rollback)),
        ("cpu limit", f"{limits.cpu_limit_percent} % of the machine"),
        ("worker memory limit", _mib_or_none(limits.worker_memory_limit_mb)),
        ("total memory limit", _mib_or_none(limits.total_memory_limit_mb)),
    ]


def stats_rows(reply: StatsReply) -> Rows:
    """The rows of ``batchctl stats``."""
    journal, limits = reply.journal, reply.limits
    rows: Rows = [
        ("pid", str(reply.pid)),
        ("uptime", duration(reply.uptime)),
        ("rss", size(reply.rss)),
        (
            "cpu",
            f"{reply.cpu_percent:.1f} % (user {reply.cpu_user:.2f} s, "
            f"system {reply.cpu_system:.2f} s)",
        ),
        ("threads", str(reply.threads)),
        ("open fds", str(reply.open_fds)),
        ("journal segments", str(journal.segments)),
        ("journal size", size(journal.bytes)),
        ("journal records", str(journal.records)),
        ("journal commits", f"{journal.commits} ({journal.fsyncs} fsyncs)"),
        ("durable lsn", str(journal.durable_lsn)),
        *limits_rows(limits),
        (
            "limits acted",
            f"{reply.limit_actions.cpu_throttles} cpu throttles "
            f"({reply.limit_actions.cpu_throttled_seconds:.1f} s stopped), "
            f"{reply.limit_actions.memory_kills + reply.limit_actions.total_memory_kills} "
            "memory kills",
        ),
        ("workers", str(len(reply.workers)) if reply.workers else "none running"),
    ]
    rows.extend(
        (
            f"worker {worker.pid}",
            f"{worker.state}, cpu {worker.cpu_percent:.1f} %, rss {size(worker.rss)}"
            + (f", batch {worker.batch} item {worker.item}" if worker.batch is not None else ""),
        )
        for worker in reply.workers
    )
    return rows
