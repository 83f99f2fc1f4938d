"""limits: runtime changes reach the pool; a memory cap fails only the items over it."""

from __future__ import annotations

import json
from pathlib import Path

import psutil
from handler_dist import install_handlers
from polling import wait_until
from running_daemon import RunningDaemon, json_of
from sample_plans import plan_bytes
from trees import make_files

from batchd.protocol.batch_messages import BatchState, ShowReply, ShowRequest
from batchd.protocol.errors import InvalidArguments
from batchd.protocol.messages import LimitsInForce, LimitsRequest, StatsReply, StatsRequest

HOG = "b = bytearray(600 * 2**20); import sys, time; time.sleep(5); sys.stdout.write('x')"


def test_limits_change_at_run_time_and_are_checked(daemon: RunningDaemon) -> None:
    result = daemon.batchctl("--json", "limits", "--cpu", "50", "--workers", "1")
    assert result.returncode == 0, result.stderr
    limits = json.loads(result.stdout)
    assert (limits["cpu_limit_percent"], limits["max_workers"]) == (50, 1)
    stats = wait_until(
        lambda: (s := daemon.request(StatsRequest(), StatsReply)) and len(s.workers) == 1 and s,
        what="the pool to shrink to one worker",
    )
    assert stats.limits.cpu_limit_percent == 50
    try:
        daemon.request(LimitsRequest(cpu_limit_percent=0), LimitsInForce)
    except InvalidArguments as exc:
        assert "cpu_limit_percent" in exc.message and "1 to 100" in exc.message
    else:
        raise AssertionError("a CPU cap of 0 % was accepted")
    assert json_of(daemon.batchctl("--json", "limits"))["cpu_limit_percent"] == 50


def test_items_over_the_worker_memory_cap_fail_alone(
    tmp_path: Path, daemon_factory: type[RunningDaemon]
) -> None:
    config = tmp_path / "batchd.toml"
    config.write_text("max_workers = 2\nworker_memory_limit_mb = 200\nmax_retries = 0\n")
    daemon = daemon_factory(args=("--config", str(config)), env=install_handlers(tmp_path))
    daemon.start()
    assert daemon.process is not None
    rss_before = psutil.Process(daemon.process.pid).memory_info().rss
    data = tmp_path / "data"
    make_files(data, {f"f{i}": b"x\n" for i in range(8)})
    items = [{"op": "checksum", "path": f"f{i}"} for i in range(6)]
    items += [
        {"op": "transform", "path": "f6", "command": ["python3", "-c", HOG]},
        {"op": "call", "handler": "hog", "path": "f7"},
    ]
    status = daemon.submit(plan_bytes(*items), data)
    assert status.batch is not None, status.problems
    final = daemon.wait_batch(status.batch, timeout=120)
    assert final.state is BatchState.FAILED
    assert (final.completed, final.failed) == (6, 2)
    show = daemon.request(ShowRequest(status.batch, failed_only=True), ShowReply)
    for item in show.items:
        assert "memory limit exceeded" in item.error and "> 200 MiB" in item.error, item
    rss_after = psutil.Process(daemon.process.pid).memory_info().rss
    assert rss_after - rss_before < 10 * 2**20
    actions = daemon.request(StatsRequest(), StatsReply).limit_actions
    assert actions.memory_kills == 2
