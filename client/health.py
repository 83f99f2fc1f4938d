"""The verdict of ``batchctl check``: batches and daemon counters in, a Nagios status out. Pure.

Rules (docs/cli.md, ``check``), worst one wins:

- CRITICAL: failed items >= ``failed_crit``; a running batch with no progress for
  ``stalled_minutes``; a journal error (``stats`` reports one in ``journal.error``, or the
  daemon answered with an error: a failed journal makes it refuse work, ``UNAVAILABLE``).
- WARNING: failed items >= ``failed_warn``; workers killed for memory more than once.
- UNKNOWN: the daemon could not be asked (the caller builds that verdict with
  :func:`unknown`).

Failed items are counted in ended batches that were not rolled back. A running batch is
stalled when its finished count (completed + failed) has not changed for the whole window:
the count and when it was first seen are remembered between two checks (``memory``); a batch
seen for the first time that finished nothing yet counts from its start (``elapsed``).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from batchd.protocol.batch_messages import BatchProgress, BatchState, has_ended
from batchd.protocol.messages import LimitActions

REPEATED = 2
"""Memory kills from this many on are a repeated limit action (WARNING)."""

_NOT_COUNTED = frozenset({BatchState.ROLLED_BACK, BatchState.PARTIALLY_ROLLED_BACK})


class Status(enum.IntEnum):
    """Nagios plugin states; the value is the exit status."""

    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3


@dataclass(frozen=True)
class Thresholds:
    """When a check turns WARNING or CRITICAL."""

    stalled_minutes: float = 10.0
    failed_warn: int = 1
    failed_crit: int = 10


@dataclass(frozen=True)
class Seen:
    """A running batch's finished count and the Unix time it was first seen at that count."""

    finished: int
    since: float


@dataclass(frozen=True)
class Perf:
    """One perfdata value with its thresholds (None: not set)."""

    label: str
    value: int
    warn: int | None = None
    crit: int | None = None
    min: int | None = None

    def __str__(self) -> str:
        """``failed=0;1;10;0``, trailing empty fields left out."""
        fields = ["" if v is None else str(v) for v in (self.warn, self.crit, self.min)]
        return f"{self.label}={';'.join([str(self.value), *fields]).rstrip(';')}"


@dataclass(frozen=True)
class Verdict:
    """A check's outcome: its status, the summary and reasons, perfdata, and what to
    remember for the next check."""

    status: Status
    summary: str
    reasons: tuple[str, ...] = ()
    perfdata: tuple[Perf, ...] = ()
    memory: Mapping[int, Seen] = field(default_factory=dict)

    def line(self) -> str:
        """``BATCHD OK - 2 active batches, 0 failed items | active=2 failed=0;1;10;0 ...``."""
        text = f"BATCHD {self.status.name} - {'; '.join((self.summary, *self.reasons))}"
        if self.perfdata:
            text += " | " + " ".join(str(perf) for perf in self.perfdata)
        return text

    def jsonable(self) -> dict[str, object]:
        """The verdict for ``check --json``."""
        return {
            "status": self.status.name,
            "exit": int(self.status),
            "summary": self.summary,
            "reasons": list(self.reasons),
            "perfdata": {
                perf.label: {"value": perf.value, "warn": perf.warn, "crit": perf.crit}
                for perf in self.perfdata
            },
        }


def _plural(count: int, word: str, words: str = "") -> str:
    return f"{count} {word if count == 1 else words or word + 's'}"


def _batches(ids: Sequence[int]) -> str:
    return f"batch{'es' if len(ids) > 1 else ''} {', '.join(str(i) for i in ids)}"


def _stalled(
    batches: Sequence[BatchProgress], memory: Mapping[int, Seen], now: float, window: float
) -> tuple[list[int], dict[int, Seen]]:
    """The running batches without progress for `window` seconds, and the new memory."""
    stalled: list[int] = []
    remembered: dict[int, Seen] = {}
    for batch in batches:
        if batch.state is not BatchState.RUNNING:
            continue
        finished = batch.completed + batch.failed
        before = memory.get(batch.id)
        if before is not None and before.finished == finished:
            seen = before
        else:
            seen = Seen(finished, now - batch.elapsed if finished == 0 else now)
        remembered[batch.id] = seen
        if now - seen.since >= window:
            stalled.append(batch.id)
    return stalled, remembered


def assess(
    batches: Sequence[BatchProgress],
    actions: LimitActions,
    workers: int,
    *,
    thresholds: Thresholds,
    memory: Mapping[int, Seen],
    now: float,
    journal_error: str = "",
) -> Verdict:
    """Judge the daemon from every batch it knows (``list --all``) and its limit counters."""
    active = [b for b in batches if not has_ended(b)]
    counted = [b for b in batches if has_ended(b) and b.state not in _NOT_COUNTED and b.failed]
    failed = sum(b.failed for b in counted)
    stalled, remembered = _stalled(batches, memory, now, thresholds.stalled_minutes * 60)
    kills = actions.memory_kills + actions.total_memory_kills
    status, reasons = Status.OK, []
    if failed >= thresholds.failed_crit or failed >= thresholds.failed_warn:
        status = Status.CRITICAL if failed >= thresholds.failed_crit else Status.WARNING
        reasons.append(f"{_plural(failed, 'failed item')} in {_batches([b.id for b in counted])}")
    if stalled:
        status = Status.CRITICAL
        minutes = f"{thresholds.stalled_minutes:g} min"
        reasons.append(f"no progress for {minutes} in {_batches(stalled)}")
    if journal_error:
        status = Status.CRITICAL
        reasons.append(f"journal error: {' '.join(journal_error.split())}")
    if kills >= REPEATED:
        status = max(status, Status.WARNING)
        reasons.append(f"workers killed {kills} times for exceeding a memory limit")
    perfdata = (
        Perf("active", len(active), min=0),
        Perf("failed", failed, thresholds.failed_warn, thresholds.failed_crit, 0),
        Perf("stalled", len(stalled), crit=1, min=0),
        Perf("workers", workers, min=0),
        Perf("memory_kills", kills, REPEATED, min=0),
        Perf("cpu_throttles", actions.cpu_throttles, min=0),
    )
    summary = f"{_plural(len(active), 'active batch', 'active batches')}, "
    summary += _plural(failed, "failed item")
    return Verdict(status, summary, tuple(reasons), perfdata, remembered)


def daemon_error(message: str) -> Verdict:
    """CRITICAL: the daemon answered but refused to report (journal failure, internal error)."""
    text = " ".join(message.split())
    return Verdict(Status.CRITICAL, f"the daemon answered with an error: {text}")


def unknown(message: str) -> Verdict:
    """UNKNOWN: the daemon could not be asked (not reachable, another protocol version)."""
    return Verdict(Status.UNKNOWN, " ".join(message.split()))
