"""The worker's view of its own memory cgroup: did the kernel OOM-kill something of ours?

When the worker's group hits its hard limit the kernel kills the biggest process in it —
usually the transform command that allocated, sometimes a ``call`` handler's worker itself
(then the pool, burying the worker, reads the same counter). A command killed that way makes
its step fail with a bare SIGKILL; the worker reads the group's ``oom_kill`` counter after
each step that failed or may have taken long, and a step during which it rose fails like
one over the sampled limit: TRANSIENT, "memory limit exceeded (N MiB > M MiB)", retried per
the retry policy. Reading is a few small file reads, after slow or failed steps only.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from batchd.daemon.ops.step import ErrorKind, Outcome
from batchd.daemon.pool import cgroup_files
from batchd.daemon.pool.cgroup_files import GroupMemory, Hierarchy


class OomWatch:
    """Turns the failure of a step whose process was OOM-killed in ``group`` into the memory
    limit's failure."""

    def __init__(self, group: Path) -> None:
        self.group = group
        version = 1 if (group / "memory.oom_control").exists() else 2
        self.hierarchy = Hierarchy(version, PurePosixPath(group.parent))
        self._seen = self.kills()

    def kills(self) -> int:
        """The group's ``oom_kill`` counter now (0 when unreadable)."""
        return oom_kills(self.group, self.hierarchy)

    def check(self, outcome: Outcome, *, slow: bool) -> Outcome:
        """``outcome`` of the step just run, rewritten when the kernel killed within the group
        during it. ``slow``: the step may have taken long (a command or a handler), so the
        counter is read even when it succeeded, to keep the baseline current."""
        if outcome.ok and not slow:
            return outcome
        kills = self.kills()
        rose, self._seen = kills > self._seen, kills
        if outcome.ok or not rose:
            return outcome
        found = cgroup_files.oom_kill_error(
            group_memory(self.group, self.hierarchy),
            group_memory(self.group.parent, self.hierarchy),
        )
        if found is None:
            return outcome
        error, diagnostics = found
        diagnostics = f"{diagnostics}; the step failed with: {outcome.error}"
        return Outcome.failure(outcome.index, ErrorKind.TRANSIENT, error, diagnostics)


def group_memory(group: Path, hierarchy: Hierarchy) -> GroupMemory:
    """A group's limit, peak usage and limit hits from its files (0 where unreadable)."""
    limit = cgroup_files.limit_bytes(_read(group / hierarchy.limit_file))
    peak = _number(_read(group / hierarchy.peak_file) or _read(group / "memory.current"))
    if hierarchy.version == 1:
        hits = _number(_read(group / "memory.failcnt"))
    else:
        hits = cgroup_files.counters(_read(group / "memory.events")).get("max", 0)
    return GroupMemory(limit, peak, hits)


def oom_kills(group: Path, hierarchy: Hierarchy) -> int:
    """How many processes the kernel's OOM killer killed in ``group`` (0 when unreadable)."""
    return cgroup_files.counters(_read(group / hierarchy.events_file)).get("oom_kill", 0)


def _number(text: str) -> int:
    text = text.strip()
    return int(text) if text.isdigit() else 0


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""
