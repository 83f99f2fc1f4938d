"""The operating-system side of the pool's limits: a thin psutil adapter behind a Protocol.

``ProcessProbe`` is what the governor needs — a worker's process tree, its CPU time and
memory, and stopping or continuing process groups — so the governor can be tested with a
fake. ``PsutilProbe`` is the real one. No decisions here.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final, Protocol

import psutil

# Kernels built without CONFIG_PROC_CHILDREN lack the file: fall back to psutil's full scan.
_HAS_CHILDREN_FILE: Final = os.path.exists(f"/proc/self/task/{os.getpid()}/children")


@dataclass(frozen=True, slots=True)
class TreeUsage:
    """A worker's tree at one moment: its pids (the worker first), cumulative CPU seconds
    (including children it has reaped) and RSS summed over the processes."""

    pids: tuple[int, ...]
    cpu_seconds: float
    rss: int


class ProcessProbe(Protocol):
    """Reads and signals worker process trees."""

    def cpus(self) -> int:
        """CPUs of the whole machine."""
        ...

    def tree(self, worker: int) -> list[int]:
        """``worker`` and its live descendants (empty when it is gone)."""
        ...

    def usage(self, worker: int) -> TreeUsage | None:
        """CPU time and RSS of ``worker``'s tree; None when it is gone."""
        ...

    def pss(self, pids: Sequence[int]) -> int:
        """PSS summed over ``pids`` (processes that vanished count 0)."""
        ...

    def groups(self, pids: Sequence[int]) -> frozenset[int]:
        """The process groups of ``pids``, never the caller's own."""
        ...

    def signal_groups(self, groups: Iterable[int], signum: int) -> None:
        """Send ``signum`` to each process group (vanished ones are skipped)."""
        ...


class PsutilProbe:
    """``ProcessProbe`` over /proc, with psutil."""

    def cpus(self) -> int:
        """Logical CPUs of the machine."""
        return psutil.cpu_count() or 1

    def tree(self, worker: int) -> list[int]:
        """Walk ``/proc/PID/task/TID/children`` from the worker: reads only the tree, where
        psutil's ``children()`` scans every process on the machine."""
        found = [worker]
        index = 0
        while index < len(found):
            children = _children(found[index])
            if children is None:
                if index == 0:
                    return []
                children = []
            found.extend(child for child in children if child not in found)
            index += 1
        return found

    def usage(self, worker: int) -> TreeUsage | None:
        """Sum user, system and reaped-children times and RSS over the tree."""
        pids = self.tree(worker)
        if not pids:
            return None
        cpu = 0.0
        rss = 0
        for pid in pids:
            try:
                process = psutil.Process(pid)
                with process.oneshot():
                    times = process.cpu_times()
                    memory = process.memory_info()
            except psutil.Error:
                continue
            cpu += times.user + times.system + times.children_user + times.children_system
            rss += memory.rss
        return TreeUsage(tuple(pids), cpu, rss)

    def pss(self, pids: Sequence[int]) -> int:
        """From ``/proc/PID/smaps_rollup`` (psutil's ``memory_full_info``)."""
        total = 0
        for pid in pids:
            with contextlib.suppress(psutil.Error):
                total += psutil.Process(pid).memory_full_info().pss
        return total

    def groups(self, pids: Sequence[int]) -> frozenset[int]:
        """Process groups by ``getpgid``; the daemon's own group is left out."""
        found: set[int] = set()
        for pid in pids:
            with contextlib.suppress(OSError):
                found.add(os.getpgid(pid))
        found.discard(os.getpgrp())
        found.discard(0)
        return frozenset(found)

    def signal_groups(self, groups: Iterable[int], signum: int) -> None:
        """``killpg`` each group; ESRCH and EPERM are ignored (the group is gone)."""
        for group in groups:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(group, signum)


def _children(pid: int) -> list[int] | None:
    """Direct children of ``pid`` (None when it is gone)."""
    if not _HAS_CHILDREN_FILE:
        return _children_by_scan(pid)
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return None
    except OSError:
        return []
    children: list[int] = []
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children", "rb") as file:
                children += [int(field) for field in file.read().split()]
        except OSError:
            continue  # the thread ended
    return children


def _children_by_scan(pid: int) -> list[int] | None:
    try:
        return [child.pid for child in psutil.Process(pid).children()]
    except psutil.NoSuchProcess:
        return None
    except psutil.Error:
        return []
