"""A batch's own CPU cap, for real: two CPU-bound batches run at once, one is capped at run
time with ``batchctl limits --batch ID --cpu 50``; psutil measures each batch's worker and
its commands. The cap goes away when the batch ends.

Each batch gets one of the two workers (batches share workers fairly). The capped batch's
transform starts four busy loops — alone it could take the whole machine — the other's one,
which can take at most one CPU. With the cap the first is held to 40-60 % of the machine and
the second, never stopped, gets its full CPU back.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import psutil
from polling import wait_until
from running_daemon import RunningDaemon, json_of
from sample_plans import plan_bytes
from trees import make_files

from batchd.protocol.errors import BatchNotFound, InvalidArguments
from batchd.protocol.messages import (
    BatchCpuLimit,
    LimitsInForce,
    LimitsRequest,
    StatsReply,
    StatsRequest,
)

LOOP_SECONDS = 16
MEASURE = 5.0
WINDOWS = 3  # pairs of windows, capped (MEASURE / WINDOWS s) and uncapped (1 s)
BUSY = (
    "import sys, time\n"
    f"end = time.monotonic() + {LOOP_SECONDS}\n"
    "while time.monotonic() < end: pass\n"
    "sys.stdout.write('done')\n"
)


def _loops(count: int) -> list[str]:
    """A transform command running ``count`` busy loops of LOOP_SECONDS at once."""
    loop = f'{sys.executable} -c "$1"'
    return ["sh", "-c", " & ".join([loop] * count) + "; wait", "loops", BUSY]


def _tree(pid: int) -> list[psutil.Process]:
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def _cpu(processes: list[psutil.Process]) -> float:
    """CPU seconds of ``processes`` (and what they reaped); vanished ones count 0."""
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system + times.children_user + times.children_system
    return total


def _machine_busy() -> float:
    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)


def _stopped(processes: list[psutil.Process]) -> bool:
    for process in processes:
        try:
            if process.status() == psutil.STATUS_STOPPED:
                return True
        except psutil.Error:
            continue
    return False


class Meter:
    """CPU-seconds of each batch's tree, and of the whole machine, over measured windows."""

    def __init__(self, trees: dict[int, list[psutil.Process]]) -> None:
        self.trees = trees
        self.elapsed = self.everybody = 0.0
        self.used = dict.fromkeys(trees, 0.0)
        self.stopped = dict.fromkeys(trees, 0)

    def measure(self, seconds: float) -> None:
        """Add ``seconds`` of use; meanwhile look every 20 ms for stopped processes."""
        begin = {batch: _cpu(tree) for batch, tree in self.trees.items()}
        busy, start = _machine_busy(), time.monotonic()
        while time.monotonic() < start + seconds:
            for batch, tree in self.trees.items():
                self.stopped[batch] += _stopped(tree)
            time.sleep(0.02)
        self.elapsed += time.monotonic() - start
        self.everybody += _machine_busy() - busy
        for batch, tree in self.trees.items():
            self.used[batch] += _cpu(tree) - begin[batch]

    def shares(self) -> dict[int, float]:
        """Each batch's share of the whole machine."""
        cpus = psutil.cpu_count() or 1
        return {batch: used / (self.elapsed * cpus) for batch, used in self.used.items()}

    def others(self) -> float:
        """Everybody else's share (other tests, the daemon, the system)."""
        cpus = psutil.cpu_count() or 1
        return (self.everybody - sum(self.used.values())) / (self.elapsed * cpus)

    def free_stopped(self, batch: int) -> int:
        """How often a process of ``batch`` was seen stopped."""
        return self.stopped[batch]


def _two_busy_batches(daemon: RunningDaemon, data: Path) -> tuple[int, int, dict[int, int]]:
    """Submit the batch to cap (four loops) and the free one (one loop); once both loops
    run: their ids and the pid of the worker running each."""
    make_files(data, {"a": b"x\n", "b": b"x\n"})
    batches = []
    for name, loops in (("a", 4), ("b", 1)):
        item = {"op": "transform", "path": name, "command": _loops(loops)}
        status = daemon.submit(plan_bytes(item), data, name=name)
        assert status.batch is not None, status.problems
        batches.append(status.batch)
    capped, free = batches

    def both_running() -> dict[int, int] | None:
        stats = daemon.request(StatsRequest(), StatsReply)
        pids = {w.batch: w.pid for w in stats.workers if w.batch is not None}
        if set(pids) != {capped, free}:
            return None
        if len(_tree(pids[capped])) < 6 or len(_tree(pids[free])) < 3:
            return None  # the worker, sh and the loops
        return pids

    return capped, free, wait_until(both_running, 20, what="both batches' loops to run")


def _measure(daemon: RunningDaemon, capped: int, pids: dict[int, int]) -> tuple[Meter, Meter]:
    """Capped and uncapped windows, interleaved so that both see the same load from
    whatever else runs; the cap is set when this starts and on again when it returns."""
    trees = {batch: _tree(pid) for batch, pid in pids.items()}
    on, off = Meter(trees), Meter(trees)
    for window in range(WINDOWS):
        if window:
            daemon.request(LimitsRequest(cpu_limit_percent=50, batch=capped), LimitsInForce)
        time.sleep(0.5)  # the duty cycle settles within a few 0.2 s periods
        on.measure(MEASURE / WINDOWS)
        daemon.request(LimitsRequest(cpu_limit_percent=100, batch=capped), LimitsInForce)
        time.sleep(0.2)
        off.measure(1.0)
    daemon.request(LimitsRequest(cpu_limit_percent=50, batch=capped), LimitsInForce)
    return on, off


def _refused(daemon: RunningDaemon, capped: int) -> None:
    """A batch's cap is checked like the other limits, and is the CPU cap only."""
    for bad, error in (
        (LimitsRequest(cpu_limit_percent=0, batch=capped), InvalidArguments),
        (LimitsRequest(max_workers=3, batch=capped), InvalidArguments),
        (LimitsRequest(cpu_limit_percent=50, batch=999), BatchNotFound),
    ):
        try:
            daemon.request(bad, LimitsInForce)
        except error:
            pass
        else:
            raise AssertionError(f"{bad} was accepted")


def test_a_batch_capped_at_run_time_is_held_to_its_cap(
    tmp_path: Path, daemon_factory: type[RunningDaemon]
) -> None:
    config = tmp_path / "batchd.toml"
    config.write_text("max_workers = 2\nmax_retries = 0\n")
    daemon = daemon_factory(args=("--config", str(config)))
    daemon.start()
    capped, free, pids = _two_busy_batches(daemon, tmp_path / "data")
    started = time.monotonic()

    result = daemon.batchctl("--json", "limits", "--batch", str(capped), "--cpu", "50")
    assert result.returncode == 0, result.stderr
    limits = json_of(result)
    assert limits["batch_cpu_limits"] == [{"batch": capped, "cpu_limit_percent": 50}]
    assert limits["cpu_limit_percent"] == 100  # the workers' cap is untouched

    capped_windows, uncapped = _measure(daemon, capped, pids)
    on, off, others = capped_windows.shares(), uncapped.shares(), capped_windows.others()
    print(
        f"capped batch {on[capped]:.1%} ({off[capped]:.1%} uncapped), free batch "
        f"{on[free]:.1%} ({off[free]:.1%}), others {others:.1%} ({uncapped.others():.1%}), "
        f"{capped_windows.elapsed:.1f} s capped, {time.monotonic() - started:.1f} s in",
        file=sys.stderr,
    )
    assert time.monotonic() - started < LOOP_SECONDS - 1, "the loops ended while measuring"
    assert capped_windows.elapsed >= MEASURE
    stopped = capped_windows.free_stopped(free) + uncapped.free_stopped(free)
    assert stopped == 0, "the uncapped batch's processes were stopped"
    # The cap: 40-60 %. On an idle machine the batch takes ~80 % uncapped. When other load
    # leaves it less than the cap (uncapped, or beside the free batch and the others in the
    # capped windows), the capped windows must reach what was left (minus 5 points of noise).
    assert on[capped] <= 0.60
    assert on[capped] >= min(0.40, off[capped] - 0.05, 1.0 - others - on[free] - 0.05)
    # The free batch loses nothing to its neighbour's cap; it gains what the cap frees.
    assert on[free] >= off[free] - 0.05
    stats = daemon.request(StatsRequest(), StatsReply)
    if off[capped] >= 0.6:  # the cap was below what the batch could get: the duty cycle acted
        assert stats.limit_actions.cpu_throttles > 10
    assert stats.limits.batch_cpu_limits == (BatchCpuLimit(capped, 50),)

    _refused(daemon, capped)
    # A change of the workers' limits keeps the batch's cap.
    reply = daemon.request(LimitsRequest(cpu_limit_percent=90), LimitsInForce)
    assert reply.batch_cpu_limits == (BatchCpuLimit(capped, 50),)

    for batch in (capped, free):  # the loops end by themselves
        daemon.wait_batch(batch, timeout=30)
    assert daemon.request(LimitsRequest(), LimitsInForce).batch_cpu_limits == ()
    try:
        daemon.request(LimitsRequest(cpu_limit_percent=50, batch=capped), LimitsInForce)
    except InvalidArguments as exc:
        assert "has ended" in exc.message
    else:
        raise AssertionError("a cap on an ended batch was accepted")
