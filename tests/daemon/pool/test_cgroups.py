"""Hard memory limits in real cgroups: each worker in its own group, the kernel's OOM kills
turned into the memory failure, the groups cleaned up. Needs a writable memory cgroup (v1 or
v2): skipped without one, except under ``CI=true`` (root, v1 on these machines) where that
is a failure."""

from __future__ import annotations

import logging
import os
import re
import time
from pathlib import Path

import msgpack
import psutil
import pytest

from batchd.daemon.ops.step import ErrorKind, OpKind, Step
from batchd.daemon.pool.cgroups import MemoryCgroups
from batchd.daemon.pool.executor import Chunk
from batchd.daemon.pool.limits import Limits

MEMORY_ERROR = re.compile(r"memory limit exceeded \((\d+) MiB > (\d+) MiB\)")
ALLOCATE = "b = bytearray(400 << 20); import time; time.sleep(1)"


@pytest.fixture
def cgroups() -> MemoryCgroups:
    """The cgroups a pool would get here (closed again at once); skip or fail without."""
    found = MemoryCgroups.open()
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("no writable memory cgroup in CI (runs as root with cgroup v1)")
        pytest.skip("no writable memory cgroup here (needs root or a delegated cgroup)")
    found.close()
    return found


def _chunk(chunk_id: int, steps: list[Step]) -> Chunk:
    return Chunk(chunk_id, 1, tuple(steps), (None,) * len(steps), 30.0)


def _transform(index: int, command: tuple[str, ...], path: Path) -> Step:
    return Step(index, index + 1, OpKind.TRANSFORM, os.fsencode(path), command=command)


def _call(index: int, path: Path, **args: object) -> Step:
    return Step(
        index, index + 1, OpKind.CALL, os.fsencode(path), handler="hog",
        args=msgpack.packb(args),
    )  # fmt: skip


def _memory_cgroup(pid: int) -> str:
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if ("memory" in controllers.split(",") or controllers == "") and "batchd-" in path:
            return path
    return ""


def test_the_kernel_stops_a_command_and_a_handler_over_the_hard_limit(
    cgroups: MemoryCgroups, start_pool, checksums, handler_env, tmp_path
) -> None:
    """100 MiB per worker: a transform command and a ``call`` handler each allocating
    400 MiB (below the 612 MiB RLIMIT_DATA backstop, and faster than sampling) are OOM-killed
    by the kernel in the worker's cgroup; their items fail with the memory reason, the
    other items complete, and this process (the daemon's pool) is unaffected."""
    own_rss = psutil.Process().memory_info().rss
    driver = start_pool(2, env=handler_env, limits=Limits(worker_memory_mb=100))
    driver.ready()
    assert driver.pool.memory_enforcement == cgroups.enforcement
    groups = {info.pid: _memory_cgroup(info.pid) for info in driver.pool.workers()}
    assert all(re.search(r"/batchd-\d+(-\d+)?/worker-\d+$", path) for path in groups.values())
    assert len(set(groups.values())) == 2  # one group per worker
    victim = tmp_path / "victim.txt"
    victim.write_text("untouched\n")
    sums = checksums(0, 4)
    steps = [
        sums[0],
        _transform(100, ("python3", "-c", ALLOCATE), victim),
        sums[1],
        _call(101, victim, mib=400, seconds=1),
        sums[2],
        _call(102, victim, mib=20),  # well under the limit: completes
        sums[3],
    ]
    driver.run(_chunk(1, steps), resubmit=True, timeout=60.0)

    assert sorted(driver.outcomes) == sorted(step.index for step in steps)
    for index in range(4):
        assert driver.outcomes[index].ok, driver.outcomes[index]
    assert driver.outcomes[102].ok and driver.outcomes[102].result == "held 20 MiB"
    for index in (100, 101):
        outcome = driver.outcomes[index]
        assert outcome.error_kind is ErrorKind.TRANSIENT, outcome  # retried per the policy
        match = MEMORY_ERROR.fullmatch(outcome.error)
        assert match is not None, outcome
        assert int(match[2]) == 100 and int(match[1]) > 100
        assert "OOM killer" in outcome.diagnostics, outcome
    assert victim.read_text() == "untouched\n"
    counters = driver.pool.limit_counters()
    assert counters.kernel_oom_kills == 2 and counters.memory_kills == 2
    driver.ready(2)
    assert psutil.Process().memory_info().rss - own_rss < 50 * 2**20
    mine = f"batchd-{os.getpid()}"
    assert [p for p in cgroups.parent.parent.iterdir() if p.name.startswith(mine)]
    driver.pool.shutdown(1.0)
    assert not [p for p in cgroups.parent.parent.iterdir() if p.name.startswith(mine)]


def test_the_total_cap_is_the_parent_groups_hard_limit(
    cgroups: MemoryCgroups, start_pool, handler_env, tmp_path
) -> None:
    driver = start_pool(2, env=handler_env, limits=Limits(total_memory_mb=150))
    driver.ready()
    driver.run(_chunk(1, [_call(1, tmp_path, mib=300, seconds=1)]), timeout=30.0)
    outcome = driver.outcomes[1]
    assert MEMORY_ERROR.fullmatch(outcome.error), outcome
    assert "total_memory_limit_mb = 150 MiB" in outcome.diagnostics
    counters = driver.pool.limit_counters()
    assert counters.total_memory_kills == counters.kernel_oom_kills == 1
    driver.turn(time.monotonic() + 0.3)
    assert driver.pool.limit_counters().workers_held_back == 1  # with less concurrency
    assert len(driver.pool.workers()) == 1


def test_groups_of_dead_daemons_are_removed_at_start(cgroups: MemoryCgroups, start_pool) -> None:
    dead = psutil.Popen(["true"])
    dead.wait()
    stale = cgroups.parent.parent / f"batchd-{dead.pid}"
    (stale / "worker-3").mkdir(parents=True)
    driver = start_pool(1)
    driver.ready()
    assert not stale.exists()


def test_without_a_cgroup_the_pool_falls_back_with_one_info_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "cgroup").write_text("0::/\n")
    (tmp_path / "mountinfo").write_text("22 1 0:21 / /proc rw - proc proc rw\n")
    with caplog.at_level(logging.INFO, logger="batchd.daemon.pool.cgroups"):
        assert MemoryCgroups.open(tmp_path) is None
    assert len(caplog.records) == 1 and caplog.records[0].levelno == logging.INFO
    assert "without cgroup hard limits" in caplog.records[0].getMessage()


def test_a_pool_without_cgroups_reports_psutil(start_pool) -> None:
    driver = start_pool(1, memory_cgroups=False)
    assert driver.pool.memory_enforcement == "psutil"
