"""batchctl: options, output and exit codes (the console script and main() in-process)."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
from collections.abc import Callable

import pytest
from fake_router import FakeRouter, answering

from batchd.client.cli import main
from batchd.protocol.errors import BatchdError, BatchNotFound, InternalError
from batchd.protocol.messages import PingReply, StatsReply
from batchd.protocol.version import BATCHD_VERSION, PROTOCOL_VERSION

Batchctl = Callable[..., subprocess.CompletedProcess[str]]


def parse_aligned(text: str) -> dict[str, str]:
    """``key: value`` lines whose values all start in the same column."""
    matches = [re.fullmatch(r"([^:]+): +(\S.*)", line) for line in text.splitlines()]
    assert all(matches), text
    assert len({m.start(2) for m in matches if m}) == 1, f"values not aligned:\n{text}"
    return {m[1]: m[2] for m in matches if m}


def test_ping_json_is_one_document_with_the_reply_fields(
    batchctl: Batchctl, control: str, ping_reply: PingReply
) -> None:
    with FakeRouter(control, answering(ping=ping_reply)):
        run = batchctl("--json", "--endpoint", control, "ping")
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""
    assert json.loads(run.stdout) == {
        "daemon_version": "0.1.0",
        "protocol": 1,
        "pid": 4242,
        "uptime": 3725.5,
        "started_at": 1_700_000_000.0,
        "last_stop_clean": False,
        "state_dir": "/var/lib/batchd",
    }


def test_stats_json_is_one_document_with_the_reply_fields(
    batchctl: Batchctl, runtime_dir: object, control: str, stats_reply: StatsReply
) -> None:
    with FakeRouter(control, answering(stats=stats_reply)):
        run = batchctl("--runtime-dir", str(runtime_dir), "stats", "--json")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == json.loads(json.dumps(dataclasses.asdict(stats_reply)))


def test_ping_prints_aligned_lines(batchctl: Batchctl, control: str, ping_reply: PingReply) -> None:
    with FakeRouter(control, answering(ping=ping_reply)):
        run = batchctl("--endpoint", control, "ping")
    assert run.returncode == 0, run.stderr
    rows = parse_aligned(run.stdout)
    assert list(rows) == [
        "daemon",
        "protocol",
        "client",
        "uptime",
        "last stop",
        "state dir",
        "endpoint",
    ]
    assert rows["daemon"] == "batchd 0.1.0 (pid 4242)"
    assert rows["client"] == f"batchctl {BATCHD_VERSION} (protocol {PROTOCOL_VERSION})"
    assert rows["uptime"].startswith("1h 02m 05s (since ")
    assert rows["last stop"].startswith("not clean")
    assert rows["endpoint"] == control


def test_stats_prints_aligned_lines(
    capsys: pytest.CaptureFixture[str], control: str, stats_reply: StatsReply
) -> None:
    with FakeRouter(control, answering(stats=stats_reply)):
        assert main(["--endpoint", control, "stats"]) == 0
    rows = parse_aligned(capsys.readouterr().out)
    assert rows["pid"] == "4242"
    assert rows["rss"] == "45.2 MiB"
    assert rows["cpu"] == "1.5 % (user 0.52 s, system 0.11 s)"
    assert rows["journal records"] == "340"
    assert rows["journal commits"] == "12 (12 fsyncs)"
    assert rows["max workers"] == "8"
    assert rows["rollback"] == "off"
    assert rows["workers"] == "1"
    assert rows["worker 5000"] == "busy, cpu 97.0 %, rss 19.1 MiB"


@pytest.mark.parametrize(
    ("error", "line"),
    [
        (BatchNotFound("no batch b-17"), "batchctl: no batch b-17\n"),
        (InternalError("bug\nin the daemon"), "batchctl: bug in the daemon\n"),
    ],
)
def test_error_reply_exits_1_with_one_line(
    capsys: pytest.CaptureFixture[str], control: str, error: BatchdError, line: str
) -> None:
    with FakeRouter(control, answering(ping=error)):
        assert main(["--json", "--endpoint", control, "ping"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == line


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["bogus"],
        ["--timeout", "0", "ping"],
        ["--timeout", "-1", "ping"],
        ["--timeout", "nan", "ping"],
        ["--timeout", "soon", "ping"],
        ["--endpoint", "ipc:///a", "--runtime-dir", "/b", "ping"],
        ["--endpoint", "ipc:///a", "ping", "--runtime-dir", "/b"],
        ["ping", "extra"],
    ],
)
def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    assert main(argv) == 2
    assert "usage: batchctl" in capsys.readouterr().err


def test_unusable_endpoint_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--endpoint", "foo://bar", "ping"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("batchctl: cannot connect to 'foo://bar'")
    assert err.count("\n") == 1


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"batchctl {BATCHD_VERSION} (protocol {PROTOCOL_VERSION})\n"


def test_help_lists_the_commands_without_importing_zmq() -> None:
    code = (
        "import sys\n"
        "from batchd.client.cli import main\n"
        "assert main(['--help']) == 0\n"
        "print('zmq' in sys.modules, 'msgpack' in sys.modules)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True
    )
    assert "ping" in run.stdout
    assert "stats" in run.stdout
    assert run.stdout.splitlines()[-1] == "False False"
