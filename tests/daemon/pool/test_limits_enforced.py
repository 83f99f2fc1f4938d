"""Resource limits on the real WorkerPool: CPU cap, memory caps, niceness and I/O priority.

The memory tests here are of the sampled limits (psutil) and the RLIMIT_DATA backstop, so
their pools run without cgroups; the cgroup hard limits are tested in ``test_cgroups``.

Measurements use psutil directly (not the pool's own probe): the CPU time of every
descendant of this test process — the workers and their transform commands — as a fraction of
the whole machine (2 CPUs: 100 % = 2 CPU-seconds per second).
"""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

import msgpack
import psutil

from batchd.daemon.ops.step import ErrorKind, OpKind, Step
from batchd.daemon.pool.executor import Chunk
from batchd.daemon.pool.limits import Limits

WINDOWS = 5  # pairs of one-second windows, uncapped and capped, interleaved
MEMORY_ERROR = re.compile(r"memory limit exceeded \((\d+) MiB > (\d+) MiB\)")


def _chunk(chunk_id: int, steps: list[Step], item_timeout: float = 0.0) -> Chunk:
    return Chunk(chunk_id, 1, tuple(steps), (None,) * len(steps), item_timeout)


def _transform(index: int, command: tuple[str, ...], path: Path) -> Step:
    return Step(index, index + 1, OpKind.TRANSFORM, os.fsencode(path), command=command)


def _call(index: int, handler: str, path: Path, **args: object) -> Step:
    return Step(
        index, index + 1, OpKind.CALL, os.fsencode(path), handler=handler,
        args=msgpack.packb(args),
    )  # fmt: skip


def _tree_cpu() -> float:
    """CPU seconds used so far by this process's live descendants (and what they reaped)."""
    total = 0.0
    for process in psutil.Process().children(recursive=True):
        try:
            times = process.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system + times.children_user + times.children_system
    return total


def _machine_busy() -> float:
    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)


class Meter:
    """Accumulates CPU use over windows: our trees' and everybody else's, in CPU-seconds."""

    def __init__(self) -> None:
        self.elapsed = self.ours = self.everybody = 0.0

    def measure(self, driver, seconds: float) -> None:  # type: ignore[no-untyped-def]
        """Drive the pool for ``seconds`` and add what was used meanwhile."""
        start, ours, busy = time.monotonic(), _tree_cpu(), _machine_busy()
        _drive(driver, seconds)
        self.elapsed += time.monotonic() - start
        self.ours += _tree_cpu() - ours
        self.everybody += _machine_busy() - busy

    @property
    def share(self) -> float:
        """Our trees' share of the whole machine."""
        return self.ours / (self.elapsed * (psutil.cpu_count() or 1))

    @property
    def others(self) -> float:
        """Everybody else's share (other tests, the system)."""
        return (self.everybody - self.ours) / (self.elapsed * (psutil.cpu_count() or 1))


def _drive(driver, seconds: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        driver.turn(deadline)


def _stopped_processes() -> list[psutil.Process]:
    stopped = []
    for process in psutil.Process().children(recursive=True):
        try:
            if process.status() == psutil.STATUS_STOPPED:
                stopped.append(process)
        except psutil.Error:
            continue
    return stopped


def test_cpu_cap_holds_workers_and_their_commands_to_the_cap(start_pool, tmp_path) -> None:
    """Two workers, each running a transform that starts two busy loops: four CPU-bound
    processes on the machine, three of them commands in their own process groups."""
    driver = start_pool(2)
    driver.ready()
    loop = "while :; do :; done"
    for chunk_id in (1, 2):
        victim = tmp_path / f"victim{chunk_id}"
        victim.write_text("x\n")
        command = ("sh", "-c", f"sh -c '{loop}' & {loop}")
        driver.pool.submit(_chunk(chunk_id, [_transform(chunk_id, command, victim)], 60.0))
    driver.until(lambda: len(psutil.Process().children(recursive=True)) >= 6)

    # Interleaved, so that both see the same load from whatever else runs on the machine.
    uncapped, capped = Meter(), Meter()
    for _ in range(WINDOWS):
        driver.pool.set_limits(Limits())
        _drive(driver, 0.3)
        uncapped.measure(driver, 1.0)
        driver.pool.set_limits(Limits(cpu_percent=50))
        _drive(driver, 0.5)  # the duty cycle settles within a few periods
        capped.measure(driver, 1.0)
    print(
        f"uncapped {uncapped.share:.1%} (others {uncapped.others:.1%}), "
        f"capped {capped.share:.1%} (others {capped.others:.1%})",
        file=sys.stderr,
    )
    # On an otherwise idle machine the uncapped trees take >= 85 %. When other tests load
    # it, they get what the others leave (minus 10 points of scheduling noise) instead.
    assert uncapped.share >= min(0.85, 0.9 - uncapped.others)
    # The cap: 40-60 %. On a machine so loaded that even the uncapped trees get under 45 %,
    # the cap is out of reach, and the capped windows must stay near the uncapped ones.
    assert capped.share <= 0.60
    assert capped.share >= min(0.40, uncapped.share - 0.05)
    counters = driver.pool.limit_counters()
    if uncapped.share >= 0.6:  # the cap was below what the trees could get: the duty cycle acted
        assert counters.cpu_throttles > 10
        assert counters.cpu_throttled_seconds > 1.0
    infos = driver.pool.workers()
    assert all(info.cpu_percent is not None and info.rss for info in infos)

    driver.pool.set_limits(Limits())  # lifting the cap continues everything at once
    assert _stopped_processes() == []
    driver.turn(time.monotonic() + 0.3)
    assert _stopped_processes() == []
    assert not any(info.stopped for info in driver.pool.workers())


def test_workers_over_their_memory_limit_are_killed_and_their_items_fail(
    start_pool, checksums, handler_env, tmp_path
) -> None:
    """Per-worker limit 256 MiB (RLIMIT_DATA backstop 768 MiB): a handler and a transform
    command that each hold 600 MiB are caught by sampling and killed; a handler asking for
    8 GiB at once hits the backstop. Every other item of the chunk completes."""
    own_rss = psutil.Process().memory_info().rss
    driver = start_pool(
        2, env=handler_env, limits=Limits(worker_memory_mb=256), memory_cgroups=False
    )
    victim = tmp_path / "victim.txt"
    victim.write_text("untouched\n")
    hold = "b = bytearray(600 * 2**20); import time; time.sleep(5)"
    sums = checksums(0, 6)
    steps = [
        sums[0],
        _call(100, "hog", victim, mib=600, seconds=5),
        sums[1],
        _transform(101, ("python3", "-c", hold), victim),
        sums[2],
        _call(102, "hog", victim, mib=8192),
        sums[3],
        _call(103, "hog", victim, mib=20),  # well under the limit: completes
        *sums[4:],
    ]
    driver.run(_chunk(1, steps, item_timeout=30.0), resubmit=True, timeout=40.0)

    assert sorted(driver.outcomes) == sorted(step.index for step in steps)
    for index in range(6):
        assert driver.outcomes[index].ok, driver.outcomes[index]
    assert driver.outcomes[103].ok and driver.outcomes[103].result == "held 20 MiB"
    for index in (100, 101, 102):
        outcome = driver.outcomes[index]
        assert outcome.error_kind is ErrorKind.TRANSIENT, outcome
        match = MEMORY_ERROR.fullmatch(outcome.error)
        assert match is not None, outcome
        assert int(match[2]) == 256 and int(match[1]) > 256
    assert "RLIMIT_DATA" in driver.outcomes[102].diagnostics
    assert victim.read_text() == "untouched\n"
    counters = driver.pool.limit_counters()
    assert counters.memory_kills == 2  # the backstop failure needed no kill
    driver.ready(2)
    assert not [p for p in psutil.Process().children(recursive=True) if p.name() == "python3"]
    assert psutil.Process().memory_info().rss - own_rss < 50 * 2**20


def test_over_the_total_limit_the_biggest_worker_is_killed(
    start_pool, handler_env, tmp_path
) -> None:
    driver = start_pool(
        2, env=handler_env, limits=Limits(total_memory_mb=400), memory_cgroups=False
    )
    driver.ready()
    driver.pool.submit(_chunk(1, [_call(1, "hog", tmp_path, mib=100, seconds=3)]))
    driver.until(lambda: driver.pool.capacity() == 1)
    driver.pool.submit(_chunk(2, [_call(2, "hog", tmp_path, mib=380, seconds=3)]))
    driver.until(lambda: {1, 2} <= set(driver.finished), timeout=20.0)
    assert driver.outcomes[1].ok
    assert MEMORY_ERROR.fullmatch(driver.outcomes[2].error), driver.outcomes[2]
    assert "the biggest" in driver.outcomes[2].diagnostics
    counters = driver.pool.limit_counters()
    assert counters.total_memory_kills == 1
    assert counters.workers_held_back == 1
    driver.turn(time.monotonic() + 0.5)
    assert len(driver.pool.workers()) == 1  # runs with one worker fewer for a while


def test_niceness_and_io_priority_reach_workers_and_their_commands(start_pool, tmp_path) -> None:
    driver = start_pool(2, limits=Limits(nice=10, ionice_class="best-effort", ionice_level=7))
    idle = start_pool(1, limits=Limits(nice=19, ionice_class="idle"))
    for pool in (driver, idle):
        pool.ready()
        victim = tmp_path / f"victim{id(pool)}"
        victim.write_text("x\n")
        pool.pool.submit(_chunk(1, [_transform(1, ("sleep", "30"), victim)], 60.0))

    def commands() -> list[psutil.Process]:
        return [p for p in psutil.Process().children(recursive=True) if p.name() == "sleep"]

    driver.until(lambda: len(commands()) == 2)
    workers = {info.pid: psutil.Process(info.pid) for info in driver.pool.workers()}
    idle_pid = idle.pool.workers()[0].pid
    for command in commands():
        parent = command.parent()
        assert parent is not None
        if parent.pid == idle_pid:
            expected_nice, expected_io = 19, (psutil.IOPRIO_CLASS_IDLE, 0)
        else:
            assert parent.pid in workers
            expected_nice, expected_io = 10, (psutil.IOPRIO_CLASS_BE, 7)
        for process in (parent, command):
            assert process.nice() == expected_nice
            assert tuple(process.ionice()) == expected_io
            # Each has its own session, so its scheduling group must be niced too.
            autogroup = Path(f"/proc/{process.pid}/autogroup")
            if autogroup.exists():
                assert autogroup.read_text().split()[-1] == str(expected_nice)
    assert all(process.nice() == 10 for process in workers.values())
