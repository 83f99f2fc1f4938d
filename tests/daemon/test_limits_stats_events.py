"""The figures of ``stats`` on the event stream (``daemon.stats``), received by a real SUB
socket from a real daemon: while a batch runs, and when the limits change."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import zmq
from running_daemon import RunningDaemon
from sample_plans import slow_batch

from batchd.protocol import codec
from batchd.protocol.events import DaemonStats, DaemonStatus
from batchd.protocol.messages import LimitsInForce, LimitsRequest, StatsReply, StatsRequest


@pytest.fixture
def daemon_events(daemon: RunningDaemon) -> Iterator[zmq.Socket[bytes]]:
    """A SUB socket subscribed to the daemon's own topic."""
    sub = zmq.Context.instance().socket(zmq.SUB)
    sub.connect(daemon.events_endpoint)
    sub.setsockopt(zmq.SUBSCRIBE, b"daemon")
    # The daemon answers a new subscription with daemon.status: from then on it is live.
    assert sub.poll(10_000), "no daemon.status after subscribing"
    assert isinstance(codec.decode_event(sub.recv_multipart()).event, DaemonStatus)
    yield sub
    sub.close(linger=0)


def _next_stats(
    sub: zmq.Socket[bytes], accept: Callable[[DaemonStats], bool], timeout: float = 20.0
) -> tuple[DaemonStats, list[float]]:
    """The first daemon.stats event ``accept`` takes, and when each stats event came."""
    deadline = time.monotonic() + timeout
    arrivals: list[float] = []
    while (left := deadline - time.monotonic()) > 0:
        if not sub.poll(int(left * 1000)):
            break
        event = codec.decode_event(sub.recv_multipart()).event
        if isinstance(event, DaemonStats):
            arrivals.append(time.monotonic())
            if accept(event):
                return event, arrivals
    raise AssertionError(f"no matching daemon.stats event within {timeout} s")


def test_stats_events_show_the_running_item(
    daemon: RunningDaemon, daemon_events: zmq.Socket[bytes], tmp_path: Path
) -> None:
    batch = slow_batch(daemon, tmp_path, count=200)

    def running_item(event: DaemonStats) -> bool:
        return any(w.batch == batch and w.item is not None and w.rss > 0 for w in event.workers)

    event, _ = _next_stats(daemon_events, running_item)
    assert daemon.process is not None and event.pid == daemon.process.pid
    stats = daemon.request(StatsRequest(), StatsReply)
    assert event.limits == stats.limits
    assert {w.pid for w in event.workers} == {w.pid for w in stats.workers}
    assert all(w.state == "busy" for w in event.workers if w.item is not None)
    daemon.wait_batch(batch)


def test_stats_events_come_two_seconds_apart_and_stop_when_idle(
    daemon: RunningDaemon, daemon_events: zmq.Socket[bytes], tmp_path: Path
) -> None:
    batch = slow_batch(daemon, tmp_path, count=400)  # ~8 s on two workers
    _next_stats(daemon_events, lambda e: any(w.batch == batch for w in e.workers))
    times = []
    for _ in range(3):
        _next_stats(daemon_events, lambda e: any(w.batch == batch for w in e.workers), 5.0)
        times.append(time.monotonic())
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert all(1.5 <= gap <= 3.5 for gap in gaps), gaps
    daemon.wait_batch(batch)
    last, _ = _next_stats(daemon_events, lambda e: all(w.item is None for w in e.workers))
    assert last.workers
    with pytest.raises(AssertionError):  # idle: nothing more
        _next_stats(daemon_events, lambda _: True, timeout=3.0)


def test_a_limits_change_is_published_at_once(
    daemon: RunningDaemon, daemon_events: zmq.Socket[bytes]
) -> None:
    start = time.monotonic()
    daemon.request(LimitsRequest(cpu_limit_percent=40), LimitsInForce)
    event, _ = _next_stats(daemon_events, lambda e: e.limits.cpu_limit_percent == 40, 5.0)
    assert time.monotonic() - start < 1.5  # the idle pool publishes nothing otherwise
    assert event.limits == daemon.request(StatsRequest(), StatsReply).limits
    assert event.limits.memory_enforcement in ("cgroup v1", "cgroup v2", "psutil")
