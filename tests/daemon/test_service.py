"""systemd's notify protocol: the pure decisions, then a real `batchd` talking to a socket.

The end-to-end tests bind their own AF_UNIX datagram socket, start the daemon with
``NOTIFY_SOCKET`` and ``WATCHDOG_USEC`` pointing at it, and read what a service manager would.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import socket
import statistics
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from polling import wait_until
from running_daemon import RunningDaemon

from batchd.daemon.logs import stderr_is_journal
from batchd.daemon.service import (
    ServiceNotifier,
    status_line,
    watchdog_interval,
    wedge_after,
)
from batchd.protocol.messages import PingReply, PingRequest

# -- pure decisions ----------------------------------------------------------------------


@dataclass
class Counts:
    completed: int
    failed: int
    total: int


def test_status_line_summarizes_active_batches() -> None:
    assert status_line([]) == "ready; idle"
    assert status_line([Counts(3, 0, 10)]) == "ready; 1 batch active, 3/10 items"
    assert (
        status_line([Counts(1200, 4, 4000), Counts(30, 0, 1000)])
        == "ready; 2 batches active, 1234/5000 items, 4 failed"
    )


def test_watchdog_interval_is_half_of_watchdog_usec_for_this_process_only() -> None:
    assert watchdog_interval({}, 42) is None
    assert watchdog_interval({"WATCHDOG_USEC": "1000000"}, 42) == 0.5
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "42"}, 42) == 15.0
    assert watchdog_interval({"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "7"}, 42) is None
    assert watchdog_interval({"WATCHDOG_USEC": "0"}, 42) is None
    assert watchdog_interval({"WATCHDOG_USEC": "soon"}, 42) is None


def test_wedge_hook_is_read_only_when_set() -> None:
    assert wedge_after({}) is None
    assert wedge_after({"BATCHD_TEST_WEDGE_AFTER": "2.5"}) == 2.5
    assert wedge_after({"BATCHD_TEST_WEDGE_AFTER": "later"}) is None


def test_notifier_without_systemd_sends_nothing_and_never_wakes_the_loop() -> None:
    notifier = ServiceNotifier.from_environment({"WATCHDOG_USEC": "1000000"})
    assert not notifier.enabled
    notifier.ready([], 0.0)
    notifier.tick(list, 10.0)
    assert notifier.next_deadline() is None


def test_notifier_pings_at_its_interval_and_updates_status_at_most_once_a_second() -> None:
    sent: list[str] = []
    batches = [Counts(0, 0, 10)]
    notifier = ServiceNotifier(sent.append, watchdog=0.5)
    notifier.starting("recovering the journal")
    notifier.ready([], 100.0)
    assert sent == [
        "STATUS=recovering the journal",
        "READY=1\nSTATUS=ready; idle\nWATCHDOG=1",
    ]
    assert notifier.next_deadline() == 100.5
    sent.clear()
    notifier.tick(lambda: batches, 100.2)  # nothing due
    notifier.tick(lambda: batches, 100.5)  # ping; the status may change only after 1 s
    notifier.tick(lambda: batches, 101.0)  # ping and the new status
    batches[0].completed = 4
    notifier.tick(lambda: batches, 101.3)  # changed, but updated 0.3 s ago
    notifier.tick(lambda: batches, 102.0)
    notifier.tick(lambda: batches, 103.1)  # unchanged: ping only
    assert sent == [
        "WATCHDOG=1",
        "WATCHDOG=1\nSTATUS=ready; 1 batch active, 0/10 items",
        "WATCHDOG=1\nSTATUS=ready; 1 batch active, 4/10 items",
        "WATCHDOG=1",
    ]
    notifier.stopping("stopping")
    assert sent[-1] == "STOPPING=1\nSTATUS=stopping"


def test_stderr_is_journal_only_when_journal_stream_names_stderr(tmp_path: Path) -> None:
    with (tmp_path / "err").open("w") as err:
        info = os.fstat(err.fileno())
        assert stderr_is_journal({"JOURNAL_STREAM": f"{info.st_dev}:{info.st_ino}"}, err.fileno())
        assert not stderr_is_journal({"JOURNAL_STREAM": f"{info.st_dev}:1"}, err.fileno())
        assert not stderr_is_journal({"INVOCATION_ID": "0123"}, err.fileno())
        assert not stderr_is_journal({"JOURNAL_STREAM": "junk"}, err.fileno())


# -- a real daemon and a real notify socket ----------------------------------------------


@dataclass(frozen=True)
class Notification:
    """One datagram, with what was true when it arrived."""

    at: float
    fields: dict[str, str]
    control_socket_existed: bool
    log_said_recovered: bool


class NotifySocket:
    """What a service manager's notify socket sees, collected by a thread."""

    def __init__(self, path: Path, daemon: RunningDaemon) -> None:
        self.path = path
        self.daemon = daemon
        self.messages: list[Notification] = []
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(str(path))
        self._sock.settimeout(0.1)
        self._stop = False
        self._thread = threading.Thread(target=self._collect, daemon=True)
        self._thread.start()

    def _collect(self) -> None:
        while not self._stop:
            try:
                data = self._sock.recv(4096)
            except TimeoutError:
                continue
            fields = dict(line.split("=", 1) for line in data.decode().splitlines())
            self.messages.append(
                Notification(
                    at=time.monotonic(),
                    fields=fields,
                    control_socket_existed=(self.daemon.runtime_dir / "control.sock").exists(),
                    log_said_recovered="journal recovered" in self.daemon.log(),
                )
            )

    def with_field(self, key: str, value: str | None = None) -> list[Notification]:
        """Messages carrying ``key`` (with ``value``, when given)."""
        return [
            m
            for m in list(self.messages)
            if key in m.fields and (value is None or m.fields[key] == value)
        ]

    def close(self) -> None:
        """Stop collecting."""
        self._stop = True
        self._thread.join(5)
        self._sock.close()


@pytest.fixture
def notified(daemon_factory: type[RunningDaemon], tmp_path: Path) -> Iterator[NotifySocket]:
    """A daemon (not started yet) whose NOTIFY_SOCKET is ours, with a 1 s watchdog."""
    socket_path = tmp_path / "notify.sock"
    env = {"NOTIFY_SOCKET": str(socket_path), "WATCHDOG_USEC": "1000000"}
    daemon = daemon_factory(args=("--max-workers", "1"), env=env)
    collector = NotifySocket(socket_path, daemon)
    yield collector
    collector.close()


def _slow_plan(tree: Path, items: int) -> bytes:
    lines = []
    for i in range(items):
        (tree / f"f{i}.txt").write_text("foo\n")
        command = ["sh", "-c", "sleep 0.4; sed s/foo/bar/"]
        lines.append(json.dumps({"op": "transform", "path": f"f{i}.txt", "command": command}))
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.slow
def test_ready_status_watchdog_and_stopping_reach_the_notify_socket(
    notified: NotifySocket, tmp_path: Path
) -> None:
    daemon = notified.daemon
    daemon.start()
    ready = wait_until(lambda: notified.with_field("READY", "1"), 10, what="READY=1")
    assert len(ready) == 1
    # READY=1 only once the journal is recovered and the control socket is bound.
    assert ready[0].control_socket_existed and ready[0].log_said_recovered
    first = notified.messages[0]
    assert first.fields == {"STATUS": "recovering the journal"}
    assert first.at <= ready[0].at
    assert ready[0].fields["STATUS"] == "ready; idle"

    tree = tmp_path / "tree"
    tree.mkdir()
    accepted = daemon.submit(_slow_plan(tree, 6), tree)
    assert accepted.batch is not None
    final = daemon.wait_batch(accepted.batch, timeout=60)
    assert (final.completed, final.failed) == (6, 0)
    wait_until(
        lambda: notified.with_field("STATUS")[-1].fields["STATUS"] == "ready; idle",
        5,
        what="the status to return to idle",
    )
    statuses = [m.fields["STATUS"] for m in notified.with_field("STATUS")]
    running = [s for s in statuses if s.startswith("ready; 1 batch active, ")]
    assert len(set(running)) >= 2, statuses  # the line follows the batch's progress
    assert all(s.endswith("/6 items") for s in running), statuses
    status_times = [m.at for m in notified.with_field("STATUS")][1:]
    gaps = [b - a for a, b in itertools.pairwise(status_times)]
    assert all(gap >= 0.9 for gap in gaps), gaps  # at most once a second

    pings = [m.at for m in notified.with_field("WATCHDOG", "1")]
    intervals = [b - a for a, b in itertools.pairwise(pings)]
    assert len(intervals) >= 4, pings
    assert 0.4 <= statistics.median(intervals) <= 0.6, intervals
    assert max(intervals) < 1.0, intervals  # never late for a 1 s watchdog

    assert daemon.stop() == 0
    stopping = notified.with_field("STOPPING", "1")
    assert len(stopping) == 1 and stopping[0].fields["STATUS"].startswith("stopping")


@pytest.mark.slow
def test_wedge_hook_stops_the_watchdog_pings(notified: NotifySocket) -> None:
    daemon = notified.daemon
    daemon.env = {**(daemon.env or {}), "BATCHD_TEST_WEDGE_AFTER": "0.6"}
    daemon.start()
    wait_until(lambda: "wedging the main loop now" in daemon.log(), 10, what="the wedge")
    pings = len(notified.with_field("WATCHDOG", "1"))
    assert pings >= 1
    time.sleep(1.2)  # absence of pings over more than a watchdog period: nothing to poll for
    assert len(notified.with_field("WATCHDOG", "1")) == pings
    daemon.signal(signal.SIGTERM)  # a wedged loop never acts on it; systemd would SIGABRT it
    with pytest.raises(TimeoutError):
        daemon.request(PingRequest(), PingReply, timeout=0.5)
    assert daemon.process is not None and daemon.process.poll() is None
