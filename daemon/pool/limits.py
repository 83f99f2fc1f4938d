"""The pool's resource limits and the memory decisions, as pure functions over samples.

``Limits`` is what the daemon configures (CPU cap, memory caps, niceness, I/O priority);
the default limits nothing. The memory decisions take per-worker samples — the memory of a
worker *and its descendants* (transform commands) — and say which workers to kill, with the
error their running step fails with. CPU duty cycling lives in
``batchd.daemon.pool.throttle``; the psutil side in ``batchd.daemon.pool.probe`` and the
glue in ``batchd.daemon.pool.governor``. Sizes are bytes unless a name says MiB.

Which figure: a worker tree's **PSS** (proportional set size) summed over its processes.
RSS summed overcounts: every process of a tree (and every worker) counts the interpreter's and
the libraries' shared pages in full. USS undercounts a tree: pages a worker shares with a
command it forked count for neither. PSS splits each shared page among its sharers, so the
sum over a tree is its fair share and the sum over all workers is never more than they really
use. PSS costs a page-table walk (``/proc/PID/smaps_rollup``), so it is read only when the
cheap RSS sum — an upper bound of PSS — crosses a limit.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Final

from batchd.daemon.ops.step import ErrorKind, Outcome

MIB: Final = 1 << 20
IONICE_CLASSES: Final = ("none", "best-effort", "idle")
BACKSTOP_MARGIN: Final = 512 * MIB
HOLD_BACK_FOR: Final = 60.0
RESTORE_BELOW: Final = 0.8
_MEMORY_ERROR: Final = re.compile(r"\bMemoryError\b")


@dataclass(frozen=True, slots=True)
class Limits:
    """Resource limits of the worker pool; the defaults limit nothing.

    ``cpu_percent``: all workers and their commands together, in percent of the whole
    machine (100: no cap). ``worker_memory_mb``/``total_memory_mb``: PSS of one worker's tree
    and of all workers' trees, in MiB (0: none). ``nice``: added to the workers' niceness
    (inherited by their commands). ``ionice_class``: ``"none"`` (leave it), ``"best-effort"``
    (with ``ionice_level`` 0 to 7, 7 the lowest) or ``"idle"``. ``batch_cpu_percent``:
    (batch id, percent) pairs, each capping the workers running that batch (and their
    commands) on top of ``cpu_percent``; set at run time only (``with_batch_cpu``).
    """

    cpu_percent: int = 100
    worker_memory_mb: int = 0
    total_memory_mb: int = 0
    nice: int = 0
    ionice_class: str = "none"
    ionice_level: int = 7
    batch_cpu_percent: tuple[tuple[int, int], ...] = ()

    def __post_init__(self) -> None:
        if not 1 <= self.cpu_percent <= 100:
            raise ValueError(f"cpu_percent must be 1 to 100, got {self.cpu_percent}")
        for batch, percent in self.batch_cpu_percent:
            if not 1 <= percent < 100:
                raise ValueError(f"the CPU cap of batch {batch} must be 1 to 99, got {percent}")
        if len({batch for batch, _ in self.batch_cpu_percent}) < len(self.batch_cpu_percent):
            raise ValueError("a batch can have one CPU cap only")
        if self.worker_memory_mb < 0 or self.total_memory_mb < 0:
            raise ValueError("memory limits must be 0 (none) or positive")
        if not 0 <= self.nice <= 19:
            raise ValueError(f"nice must be 0 to 19, got {self.nice}")
        if self.ionice_class not in IONICE_CLASSES:
            raise ValueError(f"ionice_class must be one of {IONICE_CLASSES}")
        if not 0 <= self.ionice_level <= 7:
            raise ValueError(f"ionice_level must be 0 to 7, got {self.ionice_level}")

    @property
    def cpu_capped(self) -> bool:
        """Whether the workers' CPU time is capped."""
        return self.cpu_percent < 100

    @property
    def any_cpu_cap(self) -> bool:
        """Whether some CPU cap (the workers' or a batch's) is set."""
        return self.cpu_capped or bool(self.batch_cpu_percent)

    @property
    def memory_limited(self) -> bool:
        """Whether any memory limit is set."""
        return self.worker_memory_mb > 0 or self.total_memory_mb > 0

    @property
    def sampled(self) -> bool:
        """Whether enforcing these limits needs periodic samples."""
        return self.any_cpu_cap or self.memory_limited

    def cpu_cap(self, cpus: int) -> float | None:
        """The cap in CPU-seconds per second on a machine of ``cpus`` CPUs (None: no cap)."""
        return self.cpu_percent / 100 * cpus if self.cpu_capped else None

    def cpu_caps(self, cpus: int) -> dict[int | None, float]:
        """Every CPU cap in CPU-seconds per second: None for all workers, a batch id for the
        workers running that batch."""
        caps: dict[int | None, float] = {
            batch: percent / 100 * cpus for batch, percent in self.batch_cpu_percent
        }
        cap = self.cpu_cap(cpus)
        if cap is not None:
            caps[None] = cap
        return caps

    def batch_cpu(self, batch: int) -> int | None:
        """The CPU cap of ``batch`` in percent of the machine (None: it has none)."""
        return dict(self.batch_cpu_percent).get(batch)

    def with_batch_cpu(self, batch: int, percent: int | None) -> Limits:
        """These limits with ``batch``'s CPU cap set to ``percent`` (None or 100: removed)."""
        caps = {key: value for key, value in self.batch_cpu_percent if key != batch}
        if percent is not None and percent < 100:
            caps[batch] = percent
        return replace(self, batch_cpu_percent=tuple(sorted(caps.items())))

    @property
    def worker_memory(self) -> int:
        """The per-worker limit in bytes (0: none)."""
        return self.worker_memory_mb * MIB

    @property
    def total_memory(self) -> int:
        """The limit for all workers together in bytes (0: none)."""
        return self.total_memory_mb * MIB

    @property
    def backstop(self) -> int | None:
        """The RLIMIT_DATA each worker process (and each command) gets: a margin above the
        per-worker limit, so the sampled limit acts first and the rlimit only stops an
        allocation too big or too fast for sampling to catch. None without a limit."""
        limit = self.worker_memory
        return limit + max(limit, BACKSTOP_MARGIN) if limit else None


@dataclass(frozen=True, slots=True)
class MemorySample:
    """One worker's tree: ``rss`` summed over its processes (an upper bound) and ``pss``
    summed (the honest figure; None when it was not read)."""

    worker: int
    rss: int
    pss: int | None = None

    @property
    def used(self) -> int:
        """The figure limits compare: PSS when read, else the RSS upper bound."""
        return self.rss if self.pss is None else self.pss


@dataclass(frozen=True, slots=True)
class MemoryKill:
    """Kill ``worker`` (with its descendants); its running step fails with ``error``."""

    worker: int
    error: str
    diagnostics: str
    over_total: bool


def memory_error(used: int, limit: int) -> str:
    """The error of a step whose worker used ``used`` bytes over ``limit`` (rounded up, so
    the figure shown is always above the limit shown)."""
    return f"memory limit exceeded ({math.ceil(used / MIB)} MiB > {math.ceil(limit / MIB)} MiB)"


def pss_wanted(rss: Mapping[int, int], worker_limit: int, total_limit: int) -> frozenset[int]:
    """The workers whose PSS must be read: RSS is an upper bound of PSS, so only a tree whose
    RSS crosses the per-worker limit, or every tree when the RSS total crosses the total
    limit, can be over a limit."""
    if total_limit and sum(rss.values()) > total_limit:
        return frozenset(rss)
    if worker_limit:
        return frozenset(worker for worker, used in rss.items() if used > worker_limit)
    return frozenset()


def decide_memory(
    samples: Sequence[MemorySample], worker_limit: int, total_limit: int
) -> list[MemoryKill]:
    """Which workers to kill: each one over ``worker_limit``; then, while the rest together
    are over ``total_limit``, the biggest of them. Limits of 0 are off. ``samples`` are the
    live workers not already being killed (their memory is about to be freed)."""
    kills: list[MemoryKill] = []
    rest: list[MemorySample] = []
    for sample in samples:
        if worker_limit and sample.used > worker_limit:
            diagnostics = (
                f"worker {sample.worker} and its commands used {_mib(sample.used)} "
                f"(PSS) over worker_memory_limit_mb = {_mib(worker_limit)}; it was killed"
            )
            error = memory_error(sample.used, worker_limit)
            kills.append(MemoryKill(sample.worker, error, diagnostics, over_total=False))
        else:
            rest.append(sample)
    total = sum(sample.used for sample in rest)
    if not total_limit:
        return kills
    for sample in sorted(rest, key=lambda sample: (-sample.used, sample.worker)):
        if total <= total_limit:
            break
        diagnostics = (
            f"all workers together used {_mib(total)} (PSS) over total_memory_limit_mb = "
            f"{_mib(total_limit)}; worker {sample.worker}, the biggest with "
            f"{_mib(sample.used)}, was killed"
        )
        kills.append(MemoryKill(sample.worker, memory_error(total, total_limit), diagnostics, True))
        total -= sample.used
    return kills


@dataclass(frozen=True, slots=True)
class HoldBack:
    """After kills over the total limit the pool runs ``workers`` fewer workers until
    ``until`` (monotonic), then gives one back per ``HOLD_BACK_FOR`` while memory is low."""

    workers: int = 0
    until: float = 0.0


def hold_back(
    state: HoldBack, *, size: int, total_kills: int, total_used: int, total_limit: int, now: float
) -> HoldBack:
    """The next hold-back state: each kill over the total limit holds one more worker back
    (at least one keeps running) for ``HOLD_BACK_FOR`` seconds; afterwards one comes back per
    period, and only while the total stays under ``RESTORE_BELOW`` of the limit, so the pool
    does not swing straight back into the same squeeze."""
    if total_kills:
        held = min(max(0, size - 1), state.workers + total_kills)
        return HoldBack(held, now + HOLD_BACK_FOR)
    low = total_limit == 0 or total_used <= total_limit * RESTORE_BELOW
    if state.workers and now >= state.until and low:
        return HoldBack(state.workers - 1, now + HOLD_BACK_FOR if state.workers > 1 else 0.0)
    return state


@dataclass(frozen=True, slots=True)
class LimitCounters:
    """How often the limits acted since the pool started (for ``batchctl stats``).

    ``cpu_throttles``: duty-cycle periods in which the workers were stopped;
    ``cpu_throttled_seconds``: how long they were stopped in all; ``memory_kills``: workers
    killed over the per-worker limit; ``total_memory_kills``: over the total limit;
    ``workers_held_back``: workers the pool runs fewer right now because of the total limit;
    ``kernel_oom_kills``: of the memory kills, those the kernel made at a cgroup hard limit
    (a transform command or a worker, counted in ``memory_kills`` or ``total_memory_kills``
    by which limit was reached).
    """

    cpu_throttles: int = 0
    cpu_throttled_seconds: float = 0.0
    memory_kills: int = 0
    total_memory_kills: int = 0
    workers_held_back: int = 0
    kernel_oom_kills: int = 0


def backstop_outcome(outcome: Outcome, limit: int, backstop: int) -> Outcome:
    """A step that failed because an allocation hit the worker's RLIMIT_DATA backstop (a
    ``MemoryError`` in a handler or an op) fails like a step killed over the memory limit:
    transient, with the same error; the original message goes to the diagnostics."""
    if outcome.ok or not _MEMORY_ERROR.search(outcome.error):
        return outcome
    diagnostics = (
        f"an allocation would have taken the worker past its {_mib(backstop)} data-size "
        f"backstop (RLIMIT_DATA): {outcome.error}"
    )
    return Outcome.failure(
        outcome.index, ErrorKind.TRANSIENT, memory_error(backstop, limit), diagnostics
    )


def _mib(size: int) -> str:
    return f"{math.ceil(size / MIB)} MiB"
