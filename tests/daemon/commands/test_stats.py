"""stats: each worker's pid, state, resource use and the item it is running."""

from __future__ import annotations

from pathlib import Path

from polling import wait_until
from running_daemon import RunningDaemon
from sample_plans import slow_batch

from batchd.protocol.messages import StatsReply, StatsRequest


def test_stats_shows_which_item_each_busy_worker_runs(
    daemon: RunningDaemon, tmp_path: Path
) -> None:
    batch = slow_batch(daemon, tmp_path, count=40)

    def busy_worker() -> bool:
        workers = daemon.request(StatsRequest(), StatsReply).workers
        return any(w.batch == batch and w.item is not None and w.rss > 0 for w in workers)

    wait_until(busy_worker, timeout=30, what="a worker reporting its item")
    daemon.wait_batch(batch)
    idle = daemon.request(StatsRequest(), StatsReply).workers
    assert all(w.item is None for w in idle)
