"""Failure isolation: bad items fail alone, with distinct reasons; the daemon keeps serving."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from handler_dist import install_handlers
from running_daemon import RunningDaemon
from trees import make_files

from batchd.protocol.batch_messages import (
    BatchState,
    ItemState,
    ShowReply,
    ShowRequest,
    UploadState,
)
from batchd.protocol.messages import StatsReply, StatsRequest


def _plan(*items: dict[str, object]) -> bytes:
    return b"".join(json.dumps(item).encode() + b"\n" for item in items)


def test_each_kind_of_bad_item_fails_alone_with_its_own_reason(
    tmp_path: Path, daemon_factory: type[RunningDaemon]
) -> None:
    config = tmp_path / "batchd.toml"
    config.write_text("max_workers = 2\nitem_timeout = 2\nmax_retries = 0\n")
    daemon = daemon_factory(args=("--config", str(config)), env=install_handlers(tmp_path))
    daemon.start()
    data = tmp_path / "data"
    make_files(
        data, {f"ok{i}": b"fine\n" for i in range(20)} | {f"bad{i}": b"x\n" for i in range(5)}
    )
    pids_before = {w.pid for w in daemon.request(StatsRequest(), StatsReply).workers}
    assert len(pids_before) == 2
    items = [{"op": "checksum", "path": f"ok{i}"} for i in range(20)]
    items += [
        {"op": "transform", "path": "bad0", "command": ["sh", "-c", "echo oops >&2; exit 1"]},
        {"op": "transform", "path": "bad1", "command": ["sleep", "100"]},
        {"op": "call", "handler": "abort", "path": "bad2"},
        {"op": "call", "handler": "fail", "path": "bad3"},
        {"op": "call", "handler": "hang", "path": "bad4"},
    ]
    items += [
        {"op": "transform", "path": f"ok{i}", "command": ["tr", "a-z", "A-Z"]} for i in range(10)
    ]

    pings: list[float] = []
    stop = threading.Event()

    def keep_pinging() -> None:
        while not stop.is_set():
            pings.append(daemon.ping().uptime)

    pinger = threading.Thread(target=keep_pinging)
    pinger.start()
    try:
        status = daemon.submit(_plan(*items), data)
        assert status.state is UploadState.ACCEPTED, status.problems
        assert status.batch is not None
        final = daemon.wait_batch(status.batch, timeout=120)
    finally:
        stop.set()
        pinger.join(30)
    assert final.state is BatchState.FAILED
    assert (final.completed, final.failed) == (30, 5)
    assert len(pings) > 10  # the daemon answered throughout

    show = daemon.request(ShowRequest(status.batch, failed_only=True), ShowReply)
    reasons = {item.line: item.error for item in show.items}
    assert all(item.state is ItemState.FAILED for item in show.items)
    assert "exited with status 1" in reasons[21]
    assert "timed out" in reasons[22] or "time" in reasons[22]
    assert "SIGABRT" in reasons[23]
    assert "ValueError" in reasons[24] and "refused bad3" in reasons[24]
    assert "timed out" in reasons[25] and "killed" in reasons[25]
    assert len(set(reasons.values())) == 5
    assert "oops" in next(item.diagnostics for item in show.items if item.line == 21)
    for i in range(10):
        assert (data / f"ok{i}").read_bytes() == b"FINE\n"

    pids_after = {w.pid for w in daemon.request(StatsRequest(), StatsReply).workers}
    assert len(pids_after) == 2 and pids_after != pids_before  # crashed workers were replaced


def test_a_transient_failure_that_clears_after_two_attempts_completes_with_retries(
    tmp_path: Path, daemon_factory: type[RunningDaemon]
) -> None:
    config = tmp_path / "batchd.toml"
    config.write_text("item_timeout = 1\nmax_retries = 3\nretry_backoff = 0.1\n")
    daemon = daemon_factory(args=("--config", str(config)))
    daemon.start()
    data = tmp_path / "data"
    make_files(data, {"flaky": b"data\n", "broken": b"data\n"})
    counter = tmp_path / "attempts"
    counter.write_text("0")
    # Hangs past the timeout (a transient failure) on its first two runs, then works.
    flaky = (
        f'n=$(cat {counter}); echo $((n+1)) > {counter}; if [ "$n" -lt 2 ]; then sleep 30; fi; cat'
    )
    items = [
        {"op": "transform", "path": "flaky", "command": ["sh", "-c", flaky]},
        {"op": "transform", "path": "broken", "command": ["false"]},
    ]
    status = daemon.submit(_plan(*items), data)
    assert status.batch is not None, status.problems
    final = daemon.wait_batch(status.batch, timeout=60)
    assert (final.completed, final.failed, final.retried) == (1, 1, 2)
    assert counter.read_text().strip() == "3"
    show = daemon.request(ShowRequest(status.batch), ShowReply)
    attempts = {item.line: item.attempts for item in show.items}
    assert attempts == {1: 3, 2: 1}  # the permanent failure was not retried
