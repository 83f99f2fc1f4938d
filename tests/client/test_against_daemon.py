"""The real client against the real daemon: batchctl commands, the Python API and events."""

from __future__ import annotations

import time

from running_daemon import RunningDaemon, json_of

from batchd.client import Client
from batchd.protocol.events import DaemonState, DaemonStatus


def test_batchctl_ping_human_and_json(daemon: RunningDaemon) -> None:
    human = daemon.batchctl("ping")
    assert human.returncode == 0, human.stderr
    assert str(daemon.process.pid) in human.stdout  # type: ignore[union-attr]
    document = json_of(daemon.batchctl("--json", "ping"))
    assert document["pid"] == daemon.process.pid  # type: ignore[union-attr]
    assert document["protocol"] == 1
    assert document["last_stop_clean"] is None


def test_batchctl_stats_reports_journal_and_limits(daemon: RunningDaemon) -> None:
    document = json_of(daemon.batchctl("--json", "stats"))
    assert document["pid"] == daemon.process.pid  # type: ignore[union-attr]
    assert document["rss"] > 1024 * 1024
    assert document["journal"]["durable_lsn"] >= 1
    assert document["journal"]["fsyncs"] >= 1
    assert document["limits"]["max_workers"] >= 1
    assert len(document["workers"]) == document["limits"]["max_workers"]
    assert all(worker["rss"] > 0 for worker in document["workers"])


def test_ping_reports_the_previous_stop(daemon: RunningDaemon) -> None:
    daemon.kill()
    daemon.start()
    assert json_of(daemon.batchctl("--json", "ping"))["last_stop_clean"] is False
    assert daemon.stop() == 0
    daemon.start()
    assert json_of(daemon.batchctl("--json", "ping"))["last_stop_clean"] is True


def test_python_client_round_trips(daemon: RunningDaemon) -> None:
    with Client.connect(runtime_dir=str(daemon.runtime_dir), timeout=2.0) as client:
        assert client.daemon.pid == daemon.process.pid  # type: ignore[union-attr]
        assert client.ping().uptime >= 0
        assert client.stats().journal.records >= 1


def test_late_subscriber_gets_the_current_state_at_once(daemon: RunningDaemon) -> None:
    with Client.connect(runtime_dir=str(daemon.runtime_dir), timeout=2.0) as client:
        started = time.monotonic()
        subscription = client.events(topics=("daemon",), timeout=3.0)
        frame = next(iter(subscription))
        assert isinstance(frame.event, DaemonStatus)
        assert frame.event.state is DaemonState.RUNNING
        assert frame.event.pid == daemon.process.pid  # type: ignore[union-attr]
        assert time.monotonic() - started < 2.0  # not the 5 s heartbeat


def test_batchctl_exits_3_once_the_daemon_is_gone(daemon: RunningDaemon) -> None:
    daemon.kill()
    started = time.monotonic()
    result = daemon.batchctl("--timeout", "1", "ping")
    assert result.returncode == 3
    assert time.monotonic() - started < 3
    assert str(daemon.runtime_dir) in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
