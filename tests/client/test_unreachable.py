"""No daemon, a dead daemon's socket file, and daemons that never answer: exit 3 in time."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from fake_router import FakeRouter, Received, answering

from batchd.client import Client, DaemonTimeout, DaemonUnreachable
from batchd.protocol.messages import PingReply

Batchctl = Callable[..., subprocess.CompletedProcess[str]]
SLACK = 1.5  # start-up of the batchctl subprocess


def never_answer(request: Received) -> list[bytes]:
    return []


def hang_on_stats(ping_reply: PingReply) -> Callable[[Received], list[bytes]]:
    """A daemon that shakes hands and answers ping, but never answers stats."""
    handler = answering(ping=ping_reply)
    return lambda request: [] if request.command == "stats" else list(handler(request))


def make_stale_socket(control: str) -> None:
    """A socket file like the one a SIGKILLed daemon leaves: it exists, nobody listens."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(control.removeprefix("ipc://"))
    sock.close()


def timed_ping(batchctl: Batchctl, *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    start = time.monotonic()
    run = batchctl(*args)
    return run, time.monotonic() - start


def assert_one_unreachable_line(
    run: subprocess.CompletedProcess[str], runtime_dir: Path, control: str
) -> None:
    assert run.returncode == 3, run
    assert run.stdout == ""
    lines = run.stderr.splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("batchctl: ")
    assert control in lines[0]
    assert f"start it with `batchd --runtime-dir {runtime_dir}`" in lines[0]


@pytest.mark.parametrize("stale", [False, True], ids=["no-socket-file", "stale-socket-file"])
def test_cli_without_a_listener_exits_3_fast(
    batchctl: Batchctl, runtime_dir: Path, control: str, stale: bool
) -> None:
    if stale:
        make_stale_socket(control)
    run, elapsed = timed_ping(batchctl, "--runtime-dir", str(runtime_dir), "--timeout", "1", "ping")
    assert_one_unreachable_line(run, runtime_dir, control)
    assert ("stale socket file" if stale else "no socket file") in run.stderr
    assert elapsed < 1 + SLACK


def test_cli_json_mode_keeps_stdout_empty_when_unreachable(
    batchctl: Batchctl, runtime_dir: Path, control: str
) -> None:
    run = batchctl("--json", "--runtime-dir", str(runtime_dir), "--timeout", "1", "stats")
    assert_one_unreachable_line(run, runtime_dir, control)


def test_cli_daemon_that_never_answers_exits_3_within_timeout(
    batchctl: Batchctl, runtime_dir: Path, control: str
) -> None:
    with FakeRouter(control, never_answer) as router:
        run, elapsed = timed_ping(
            batchctl, "--runtime-dir", str(runtime_dir), "--timeout", "1", "ping"
        )
    assert_one_unreachable_line(run, runtime_dir, control)
    assert "no batchd answered" in run.stderr
    assert "within 1 s" in run.stderr
    assert 1 <= elapsed < 1 + SLACK
    assert [r.command for r in router.received] == ["hello"]


@pytest.mark.parametrize("stale", [False, True], ids=["no-socket-file", "stale-socket-file"])
def test_api_raises_daemon_unreachable_fast(runtime_dir: Path, control: str, stale: bool) -> None:
    if stale:
        make_stale_socket(control)
    start = time.monotonic()
    with pytest.raises(DaemonUnreachable) as caught:
        Client.connect(runtime_dir=str(runtime_dir), timeout=1.0)
    assert time.monotonic() - start < 0.5
    assert control in str(caught.value)
    assert caught.value.details == {"endpoint": control}
    assert caught.value.code is None


def test_api_handshake_that_never_answers_raises_within_timeout(control: str) -> None:
    with FakeRouter(control, never_answer):
        start = time.monotonic()
        with pytest.raises(DaemonUnreachable) as caught:
            Client.connect(control, timeout=0.5)
        elapsed = time.monotonic() - start
    assert 0.5 <= elapsed < 1.0
    assert not isinstance(caught.value, DaemonTimeout)
    assert caught.value.message.startswith(f"no batchd answered at {control} within 0.5 s; ")


def test_api_request_that_never_gets_an_answer_raises_daemon_timeout(
    control: str, ping_reply: PingReply
) -> None:
    with (
        FakeRouter(control, hang_on_stats(ping_reply)) as router,
        Client.connect(control, timeout=5.0) as client,
    ):
        start = time.monotonic()
        with pytest.raises(DaemonTimeout) as caught:
            client.stats(timeout=0.3)
        elapsed = time.monotonic() - start
        assert 0.3 <= elapsed < 0.8
        assert caught.value.message.startswith(
            f"batchd at {control} did not answer 'stats' within 0.3 s; it may be busy or hung"
        )
        # The connection stays usable after a timeout.
        assert client.ping() == ping_reply
    assert [r.command for r in router.received] == ["hello", "stats", "ping"]


def test_cli_request_that_never_gets_an_answer_exits_3(
    batchctl: Batchctl, control: str, ping_reply: PingReply
) -> None:
    with FakeRouter(control, hang_on_stats(ping_reply)):
        run, elapsed = timed_ping(batchctl, "--endpoint", control, "--timeout", "1", "stats")
    assert run.returncode == 3
    assert run.stderr.count("\n") == 1
    assert run.stderr.startswith(f"batchctl: batchd at {control} did not answer 'stats' within 1 s")
    assert elapsed < 1 + SLACK
