"""What the memory cgroup files say, as pure functions: no filesystem, no processes.

``batchd.daemon.pool.cgroups`` reads the files and feeds them here: where the daemon's own
memory cgroup is (``/proc/self/cgroup`` and ``/proc/self/mountinfo``), which file names a
hierarchy version uses, the counters of ``memory.events`` (v2) and ``memory.oom_control``
(v1), which leftover ``batchd-<pid>`` groups belong to daemons that are gone, and the error of
a step whose process the kernel killed at a hard limit.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Final

from batchd.daemon.pool.limits import MIB, memory_error

GROUP_PREFIX: Final = "batchd-"
_GROUP_NAME: Final = re.compile(r"batchd-([0-9]+)(?:-[0-9]+)?")


@dataclass(frozen=True, slots=True)
class Hierarchy:
    """One memory cgroup hierarchy: ``version`` 1 or 2, and the directory of the cgroup the
    daemon runs in (``own``), under which its groups go."""

    version: int
    own: PurePosixPath

    @property
    def name(self) -> str:
        """How ``stats`` names the enforcement: ``cgroup v1`` or ``cgroup v2``."""
        return f"cgroup v{self.version}"

    @property
    def limit_file(self) -> str:
        """The hard limit (v1 ``memory.limit_in_bytes``, v2 ``memory.max``)."""
        return "memory.limit_in_bytes" if self.version == 1 else "memory.max"

    @property
    def events_file(self) -> str:
        """The file holding the ``oom_kill`` counter."""
        return "memory.oom_control" if self.version == 1 else "memory.events"

    @property
    def peak_file(self) -> str:
        """The highest usage so far (v2 kernels before 5.19 lack ``memory.peak``)."""
        return "memory.max_usage_in_bytes" if self.version == 1 else "memory.peak"

    def limit_value(self, limit: int) -> str:
        """What to write into ``limit_file`` for ``limit`` bytes (0: no limit)."""
        if limit:
            return str(limit)
        return "-1" if self.version == 1 else "max"


def parse_proc_cgroup(text: str) -> dict[str, str]:
    """``/proc/PID/cgroup`` as controller -> path; the v2 line (``0::/path``) is key ``""``."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        controllers = parts[1].split(",") if parts[1] else [""]
        for controller in controllers:
            found[controller] = parts[2]
    return found


@dataclass(frozen=True, slots=True)
class Mount:
    """A cgroup mount from ``/proc/self/mountinfo``: where, which root of the hierarchy it
    shows, its file system type and super options (v1: the controllers)."""

    point: str
    root: str
    fstype: str
    options: frozenset[str]


def parse_mountinfo(text: str) -> list[Mount]:
    """The cgroup and cgroup2 mounts of a mountinfo file."""
    mounts: list[Mount] = []
    for line in text.splitlines():
        before, sep, after = line.partition(" - ")
        fields, tail = before.split(), after.split()
        if not sep or len(fields) < 5 or len(tail) < 3 or tail[0] not in ("cgroup", "cgroup2"):
            continue
        point = fields[4].replace("\\040", " ")
        mounts.append(Mount(point, fields[3], tail[0], frozenset(tail[2].split(","))))
    return mounts


def candidates(proc_cgroup: Mapping[str, str], mounts: Iterable[Mount]) -> list[Hierarchy]:
    """Where the daemon's memory cgroup may be, best first: the v2 hierarchy (when it holds
    the memory controller, which the caller checks), then the v1 memory hierarchy."""
    found: list[Hierarchy] = []
    mounts = list(mounts)
    for version, key, fstype in ((2, "", "cgroup2"), (1, "memory", "cgroup")):
        path = proc_cgroup.get(key)
        if path is None:
            continue
        for mount in mounts:
            if mount.fstype != fstype or (version == 1 and "memory" not in mount.options):
                continue
            relative = _below(path, mount.root)
            if relative is not None:
                found.append(Hierarchy(version, PurePosixPath(mount.point) / relative))
                break
    return found


def _below(path: str, root: str) -> str | None:
    """``path`` relative to the mount's ``root``, None when the mount does not show it."""
    pure, top = PurePosixPath(path), PurePosixPath(root)
    if pure == top:
        return "."
    if top in pure.parents:
        return str(pure.relative_to(top))
    return None


def counters(text: str) -> dict[str, int]:
    """A flat keyed file (``memory.events``, ``memory.oom_control``) as name -> number."""
    found: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            found[parts[0]] = int(parts[1])
    return found


def limit_bytes(text: str) -> int:
    """A limit file's value in bytes; 0 for none (``max``, or v1's page-rounded LONG_MAX)."""
    value = text.strip()
    if value in ("", "max") or not value.isdigit():
        return 0
    number = int(value)
    return 0 if number >= 1 << 62 else number


def group_name(pid: int, serial: int) -> str:
    """The name of the ``serial``-th pool's group in process ``pid`` (a daemon has one pool;
    tests make several): ``batchd-<pid>``, then ``batchd-<pid>-<serial>``."""
    return f"{GROUP_PREFIX}{pid}" if serial == 0 else f"{GROUP_PREFIX}{pid}-{serial}"


def stale_groups(
    names: Iterable[str], alive: Callable[[int], bool], own_pid: int | None
) -> list[str]:
    """The ``batchd-<pid>`` groups of daemons that are gone: their pid is dead, or it is
    ``own_pid``, given by a process that has not made a group yet (so a group of its pid is a
    predecessor's: pids are reused, in containers especially)."""
    stale: list[str] = []
    for name in names:
        match = _GROUP_NAME.fullmatch(name)
        if match is not None:
            pid = int(match[1])
            if pid == own_pid or not alive(pid):
                stale.append(name)
    return sorted(stale)


@dataclass(frozen=True, slots=True)
class GroupMemory:
    """A cgroup's memory figures: hard ``limit`` (0: none), ``peak`` usage and ``limit_hits``
    (v1 ``memory.failcnt``, v2 ``memory.events`` ``max``), in bytes and counts."""

    limit: int
    peak: int
    limit_hits: int


def limit_reached(worker: GroupMemory, parent: GroupMemory) -> tuple[str, GroupMemory] | None:
    """Which of our hard limits an OOM kill in a worker's group was at: ``("worker", its
    group)`` when the group hit its own limit (or no total is set), else ``("total", the
    parent)``; None when no limit of ours is set (the machine itself ran out of memory)."""
    if worker.limit and (worker.limit_hits or not parent.limit):
        return "worker", worker
    if parent.limit:
        return "total", parent
    return None


def oom_kill_error(worker: GroupMemory, parent: GroupMemory) -> tuple[str, str] | None:
    """The error and diagnostics of a step whose process the kernel's OOM killer killed in
    the worker's cgroup (None: not at a limit of ours, see ``limit_reached``). A hard limit
    is never exceeded, only reached: the figure shown is the group's peak, and at least one
    byte more than the limit (the allocation that would have crossed it)."""
    reached = limit_reached(worker, parent)
    if reached is None:
        return None
    key, group = reached
    used, limit = max(group.peak, group.limit + 1), group.limit
    diagnostics = (
        f"the kernel's OOM killer killed a process of the worker's cgroup at the hard limit "
        f"{key}_memory_limit_mb = {math.ceil(limit / MIB)} MiB (peak usage "
        f"{math.ceil(used / MIB)} MiB, limit reached {group.limit_hits} times)"
    )
    return memory_error(used, limit), diagnostics
