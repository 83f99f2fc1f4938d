"""What the memory cgroup files say, as pure functions (no cgroup needed)."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from batchd.daemon.ops.step import ErrorKind, Outcome
from batchd.daemon.pool.cgroup_files import (
    GroupMemory,
    Hierarchy,
    candidates,
    counters,
    limit_bytes,
    limit_reached,
    oom_kill_error,
    parse_mountinfo,
    parse_proc_cgroup,
    stale_groups,
)
from batchd.daemon.pool.limits import MIB
from batchd.daemon.pool.oom_watch import OomWatch

V1_PROC = """9:name=systemd:/
4:memory:/process_api/abc
2:cpu,cpuacct:/
0::/
"""
MOUNTINFO = """31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
22 1 0:21 / /proc rw - proc proc rw
"""


def test_proc_cgroup_maps_each_controller_and_the_v2_line() -> None:
    parsed = parse_proc_cgroup(V1_PROC)
    assert parsed["memory"] == "/process_api/abc"
    assert parsed["cpu"] == parsed["cpuacct"] == "/"
    assert parsed["name=systemd"] == "/"
    assert parsed[""] == "/"


def test_mountinfo_keeps_only_cgroup_mounts() -> None:
    mounts = parse_mountinfo(MOUNTINFO)
    assert [m.point for m in mounts] == [
        "/sys/fs/cgroup/memory",
        "/sys/fs/cgroup/systemd",
        "/sys/fs/cgroup/unified",
    ]
    assert "memory" in mounts[0].options and mounts[2].fstype == "cgroup2"


def test_candidates_put_v2_first_then_the_v1_memory_hierarchy() -> None:
    found = candidates(parse_proc_cgroup(V1_PROC), parse_mountinfo(MOUNTINFO))
    assert found == [
        Hierarchy(2, PurePosixPath("/sys/fs/cgroup/unified")),
        Hierarchy(1, PurePosixPath("/sys/fs/cgroup/memory/process_api/abc")),
    ]
    assert [h.name for h in found] == ["cgroup v2", "cgroup v1"]


def test_a_mount_of_a_subtree_resolves_paths_below_its_root() -> None:
    # Inside a container the v2 mount often shows only the container's own subtree.
    mounts = parse_mountinfo("41 31 0:38 /machine.slice/c1 /sys/fs/cgroup rw - cgroup2 cgroup2 rw")
    proc = {"": "/machine.slice/c1/system.slice/batchd.service"}
    (found,) = candidates(proc, mounts)
    assert found.own == PurePosixPath("/sys/fs/cgroup/system.slice/batchd.service")
    assert candidates({"": "/elsewhere"}, mounts) == []


def test_file_names_and_limit_values_per_version() -> None:
    v1, v2 = Hierarchy(1, PurePosixPath("/x")), Hierarchy(2, PurePosixPath("/x"))
    assert (v1.limit_file, v1.events_file) == ("memory.limit_in_bytes", "memory.oom_control")
    assert (v2.limit_file, v2.events_file) == ("memory.max", "memory.events")
    assert (v1.limit_value(0), v2.limit_value(0)) == ("-1", "max")
    assert v1.limit_value(100 * MIB) == v2.limit_value(100 * MIB) == str(100 * MIB)


def test_counters_and_limits_read_both_formats() -> None:
    v1 = "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n"
    v2 = "low 0\nhigh 0\nmax 17\noom 1\noom_kill 1\noom_group_kill 0\n"
    assert counters(v1)["oom_kill"] == 2
    assert counters(v2)["max"] == 17 and counters(v2)["oom_kill"] == 1
    assert limit_bytes("max\n") == limit_bytes("9223372036854771712\n") == 0
    assert limit_bytes("104857600\n") == 100 * MIB


def test_stale_groups_are_those_of_dead_daemons_and_of_our_own_pid() -> None:
    names = ["batchd-10", "batchd-20", "batchd-30", "batchd-daemon", "other", "batchd-x"]
    alive = {20, 30}.__contains__
    assert stale_groups(names, alive, own_pid=30) == ["batchd-10", "batchd-30"]
    assert stale_groups(["batchd-30-2", "batchd-10-1"], alive, own_pid=None) == ["batchd-10-1"]


def test_an_oom_kill_at_the_worker_limit_names_the_worker_limit() -> None:
    worker = GroupMemory(limit=100 * MIB, peak=100 * MIB, limit_hits=3)
    parent = GroupMemory(limit=0, peak=120 * MIB, limit_hits=0)
    assert limit_reached(worker, parent) == ("worker", worker)
    found = oom_kill_error(worker, parent)
    assert found is not None
    error, diagnostics = found
    assert error == "memory limit exceeded (101 MiB > 100 MiB)"
    assert "worker_memory_limit_mb = 100 MiB" in diagnostics and "OOM killer" in diagnostics


def test_an_oom_kill_below_the_worker_limit_was_at_the_total() -> None:
    worker = GroupMemory(limit=300 * MIB, peak=150 * MIB, limit_hits=0)
    parent = GroupMemory(limit=200 * MIB, peak=200 * MIB, limit_hits=5)
    assert limit_reached(worker, parent) == ("total", parent)
    found = oom_kill_error(worker, parent)
    assert found is not None and found[0] == "memory limit exceeded (201 MiB > 200 MiB)"
    assert "total_memory_limit_mb" in found[1]


def test_an_oom_kill_without_limits_of_ours_is_not_a_limit_failure() -> None:
    none = GroupMemory(limit=0, peak=5 * MIB, limit_hits=0)
    assert limit_reached(none, none) is None and oom_kill_error(none, none) is None


def _group(path: Path, *, limit: int, peak: int, failcnt: int, oom_kills: int) -> Path:
    """A directory with the v1 files a group has (the worker only reads them)."""
    path.mkdir(exist_ok=True)
    (path / "memory.limit_in_bytes").write_text(f"{limit}\n")
    (path / "memory.max_usage_in_bytes").write_text(f"{peak}\n")
    (path / "memory.failcnt").write_text(f"{failcnt}\n")
    (path / "memory.oom_control").write_text(f"oom_kill_disable 0\noom_kill {oom_kills}\n")
    return path


def test_the_worker_turns_a_step_failed_by_an_oom_kill_into_the_memory_failure(
    tmp_path: Path,
) -> None:
    _group(tmp_path, limit=9223372036854771712, peak=0, failcnt=0, oom_kills=0)
    group = _group(tmp_path / "worker-1", limit=100 * MIB, peak=90 * MIB, failcnt=0, oom_kills=0)
    watch = OomWatch(group)
    assert watch.hierarchy.version == 1
    killed = Outcome.failure(4, ErrorKind.PERMANENT, "command killed by SIGKILL")
    assert watch.check(killed, slow=True) == killed  # no OOM kill: left as it is
    _group(group, limit=100 * MIB, peak=100 * MIB, failcnt=7, oom_kills=1)
    rewritten = watch.check(killed, slow=True)
    assert rewritten.error_kind is ErrorKind.TRANSIENT
    assert rewritten.error == "memory limit exceeded (101 MiB > 100 MiB)"
    assert "command killed by SIGKILL" in rewritten.diagnostics
    assert watch.check(killed, slow=True) == killed  # that kill is accounted for


def test_a_successful_slow_step_moves_the_baseline(tmp_path: Path) -> None:
    group = _group(tmp_path / "worker-1", limit=100 * MIB, peak=0, failcnt=0, oom_kills=0)
    watch = OomWatch(group)
    _group(group, limit=100 * MIB, peak=100 * MIB, failcnt=1, oom_kills=1)
    assert watch.check(Outcome(1, True), slow=True).ok
    failed = Outcome.failure(2, ErrorKind.PERMANENT, "no such file")
    assert watch.check(failed, slow=False) == failed  # the kill was during the earlier step
