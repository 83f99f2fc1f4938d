"""Hard memory limits with cgroups: the filesystem side, one group per worker.

Where the daemon can write its own memory cgroup (cgroup v2 with the memory controller
delegated to the service, or the v1 memory hierarchy), the pool puts each worker in a group
of its own — ``<own cgroup>/batchd-<daemon pid>/worker-<n>`` — whose hard limit is the
per-worker cap; the parent ``batchd-<pid>`` carries the total cap. The worker's transform
commands inherit its group, so the kernel charges (and, at the limit, OOM-kills within) the
worker's whole tree, however fast it allocates; psutil keeps measuring for ``stats`` and
the sampled limits. The groups are removed when their worker is buried and at shutdown, and
a daemon that starts removes the groups that dead daemons left behind. Without a writable
memory cgroup ``MemoryCgroups.open`` returns None (one info line in the log) and the sampled
limits with the RLIMIT_DATA backstop are all there is. Decisions on the files' contents live
in ``batchd.daemon.pool.cgroup_files``.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import signal
from pathlib import Path

import psutil

from batchd.daemon.pool import cgroup_files, oom_watch
from batchd.daemon.pool.cgroup_files import Hierarchy
from batchd.daemon.pool.process import WorkerCommand, WorkerProcess
from batchd.daemon.pool.tracking import KillCause, TrackedWorker

log = logging.getLogger(__name__)

_POOLS_OPENED = itertools.count()  # per process: names each pool's group (see group_name)


class MemoryCgroups:
    """The daemon's ``batchd-<pid>`` group and its workers' groups (one daemon, one pool)."""

    def __init__(self, hierarchy: Hierarchy, parent: Path) -> None:
        self.hierarchy = hierarchy
        self.parent = parent
        self._serial = 0
        self._worker_limit = 0
        self._doomed: list[Path] = []
        self.kills = {"worker": 0, "total": 0}
        """The kernel's OOM kills in worker groups, by the limit reached."""

    @property
    def enforcement(self) -> str:
        """``cgroup v1`` or ``cgroup v2``, as ``stats`` reports it."""
        return self.hierarchy.name

    @classmethod
    def open(cls, proc: Path = Path("/proc/self")) -> MemoryCgroups | None:
        """Make this daemon's group under its own memory cgroup, or None (logged) when no
        hierarchy lets it."""
        try:
            proc_cgroup = cgroup_files.parse_proc_cgroup((proc / "cgroup").read_text())
            mounts = cgroup_files.parse_mountinfo((proc / "mountinfo").read_text())
        except OSError as error:
            log.info("memory limits without cgroups (cannot read %s: %s)", proc, error)
            return None
        reasons: list[str] = []
        for hierarchy in cgroup_files.candidates(proc_cgroup, mounts):
            try:
                return cls._make(hierarchy)
            except OSError as error:
                reasons.append(f"{hierarchy.name} at {hierarchy.own}: {error.strerror or error}")
        why = "; ".join(reasons) or "no memory cgroup hierarchy is mounted"
        log.info("memory limits are sampled with psutil, without cgroup hard limits (%s)", why)
        return None

    @classmethod
    def _make(cls, hierarchy: Hierarchy) -> MemoryCgroups:
        own = Path(hierarchy.own)
        if hierarchy.version == 2:
            _delegate_memory(own)
        serial = next(_POOLS_OPENED)
        remove_stale(own, first=serial == 0)
        parent = own / cgroup_files.group_name(os.getpid(), serial)
        parent.mkdir()
        try:
            if hierarchy.version == 2:
                (parent / "cgroup.subtree_control").write_text("+memory")
            (parent / hierarchy.limit_file).write_text(hierarchy.limit_value(0))
        except OSError:
            _rmdir(parent)
            raise
        log.info("memory limits are hard limits in %s groups under %s", hierarchy.name, parent)
        return cls(hierarchy, parent)

    def set_limits(self, worker: int, total: int) -> None:
        """Put the caps (bytes, 0: none) on the parent and on every worker's group now; a
        cap below what a group uses now makes the kernel reclaim, or refuse (logged)."""
        self._worker_limit = worker
        self._write_limit(self.parent, total)
        for group in self.parent.glob("worker-*"):
            if group not in self._doomed:
                self._write_limit(group, worker)

    def create(self) -> Path | None:
        """A new worker group with the per-worker cap; None (logged) when that fails."""
        self._serial += 1
        group = self.parent / f"worker-{self._serial}"
        try:
            group.mkdir()
        except OSError as error:
            log.warning("cannot create the cgroup %s: %s", group, error)
            return None
        if not self._write_limit(group, self._worker_limit):
            _rmdir(group)
            return None
        return group

    def attach(self, group: Path, pid: int) -> bool:
        """Move process ``pid`` into ``group`` (its later children follow it)."""
        try:
            (group / "cgroup.procs").write_text(str(pid))
        except OSError as error:
            log.warning("cannot move worker %d into the cgroup %s: %s", pid, group, error)
            return False
        return True

    def oom_check(self, group: Path, seen: int) -> tuple[int, tuple[str, str] | None]:
        """The OOM kill counter of a worker's ``group``; the kills since ``seen`` are counted
        (by the limit reached) and come with the error and diagnostics of the failure."""
        kills = oom_watch.oom_kills(group, self.hierarchy)
        if kills <= seen:
            return seen, None
        worker = oom_watch.group_memory(group, self.hierarchy)
        parent = oom_watch.group_memory(self.parent, self.hierarchy)
        reached = cgroup_files.limit_reached(worker, parent)
        if reached is not None:
            self.kills[reached[0]] += kills - seen
        return kills, cgroup_files.oom_kill_error(worker, parent)

    def start_worker(self, command: WorkerCommand) -> tuple[WorkerProcess, Path | None]:
        """Start a worker in a new group of its own (None: it runs without, logged)."""
        self.sweep()
        group = self.create()
        try:
            process = WorkerProcess.start(command.in_group(group))
        except OSError:
            if group is not None:
                self.remove(group)
            raise
        if group is not None and not self.attach(group, process.pid):
            self.remove(group)
            group = None
        return process, group

    def bury(self, worker: TrackedWorker, returncode: int) -> None:
        """A dead worker's group: a worker the kernel killed (SIGKILL, and the group's OOM
        kill counter rose) at a hard limit fails its step with the memory reason (a kill
        from outside after its command was OOM-killed in the same chunk would too: rare).
        The group is removed."""
        if worker.cgroup is None:
            return
        _, oom = self.oom_check(worker.cgroup, worker.oom_kills)
        if oom is not None and worker.kill is None and returncode == -signal.SIGKILL:
            worker.kill = KillCause(memory=oom[0], diagnostics=oom[1])
        self.remove(worker.cgroup)

    def remove(self, group: Path) -> None:
        """Remove a dead worker's group; while processes linger in it, try again later."""
        self._doomed.append(group)
        self.sweep()

    def sweep(self) -> None:
        """Retry removing the groups whose processes were still exiting."""
        self._doomed = [group for group in self._doomed if not _rmdir(group)]

    def close(self) -> None:
        """Remove every group of this daemon (its workers are gone)."""
        self._doomed = []
        _remove_tree(self.parent)

    def _write_limit(self, group: Path, limit: int) -> bool:
        try:
            (group / self.hierarchy.limit_file).write_text(self.hierarchy.limit_value(limit))
        except OSError as error:
            log.warning("cannot set the memory limit of the cgroup %s: %s", group, error)
            return False
        return True


def remove_stale(own: Path, *, first: bool) -> None:
    """Remove the groups that daemons which are gone left under ``own`` (a SIGKILLed daemon
    cannot clean up); ``first``: this process has made none yet, so groups of its pid are
    stale too."""
    try:
        names = [entry.name for entry in os.scandir(own) if entry.is_dir()]
    except OSError:
        return
    for name in cgroup_files.stale_groups(names, psutil.pid_exists, os.getpid() if first else None):
        if _remove_tree(own / name):
            log.info("removed the cgroup %s left by a daemon that is gone", own / name)


def _delegate_memory(own: Path) -> None:
    """cgroup v2: enable the memory controller for the groups below ``own``. A group with
    processes cannot hand controllers down, so the daemon moves into a leaf of its own first
    (systemd's ``Delegate=yes`` allows it); OSError when the hierarchy does not allow it."""
    controllers = _read(own / "cgroup.controllers").split()
    if "memory" not in controllers:
        raise OSError(f"the memory controller is not available in {own}")
    if "memory" in _read(own / "cgroup.subtree_control").split():
        return
    if _read(own / "cgroup.procs").split():
        leaf = own / "batchd-daemon"
        leaf.mkdir(exist_ok=True)
        for pid in _read(own / "cgroup.procs").split():
            if int(pid) != os.getpid():
                raise OSError(f"{own} holds processes other than the daemon")
            (leaf / "cgroup.procs").write_text(pid)
    (own / "cgroup.subtree_control").write_text("+memory")


def _remove_tree(group: Path) -> bool:
    """Remove ``group`` and the groups below it (a group with live processes stays)."""
    with contextlib.suppress(OSError):
        for child in group.iterdir():
            if child.is_dir():
                _remove_tree(child)
    return _rmdir(group)


def _rmdir(group: Path) -> bool:
    try:
        group.rmdir()
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return True


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""
