"""batchctl's batch commands against the real daemon, as a user or a script runs them."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

from running_daemon import BATCHCTL, RunningDaemon, json_of
from sample_plans import plan_bytes, slow_batch
from trees import make_files


def _ctl(
    daemon: RunningDaemon, cwd: Path, *args: str, stdin: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [BATCHCTL, "--runtime-dir", str(daemon.runtime_dir), *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        timeout=120,
        check=False,
    )


def test_move_convenience_command_waits_and_reports_json(
    daemon: RunningDaemon, tmp_path: Path
) -> None:
    make_files(tmp_path, {"a.jpg": b"A", "b.jpg": b"B"})
    (tmp_path / "sorted").mkdir()
    result = _ctl(daemon, tmp_path, "--json", "move", "a.jpg", "b.jpg", "sorted", "--wait")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert (document["state"], document["completed"], document["total"]) == ("completed", 2, 2)
    assert sorted(os.listdir(tmp_path / "sorted")) == ["a.jpg", "b.jpg"]


def test_submit_from_stdin_and_wait_exits_1_when_an_item_failed(
    daemon: RunningDaemon, tmp_path: Path
) -> None:
    make_files(tmp_path, {"f": b"x"})
    plan = plan_bytes(
        {"op": "checksum", "path": "f"},
        {"op": "transform", "path": "f", "command": ["false"]},
    )
    result = _ctl(daemon, tmp_path, "submit", "-", "--wait", stdin=plan)
    assert result.returncode == 1
    batch = int(result.stdout.split()[0])
    progress = json_of(daemon.batchctl("--json", "progress", str(batch)))
    assert (progress["completed"], progress["failed"]) == (1, 1)
    show = json_of(daemon.batchctl("--json", "show", str(batch), "--failed"))
    assert [item["line"] for item in show["items"]] == [2]
    assert "exited with status 1" in show["items"][0]["error"]
    assert daemon.batchctl("wait", str(batch)).returncode == 1


def test_invalid_plan_prints_each_problem_with_its_line_and_exits_1(
    daemon: RunningDaemon, tmp_path: Path
) -> None:
    plan = plan_bytes({"op": "move", "src": "nope", "dst": "x"}) + b"garbage\n"
    (tmp_path / "plan.jsonl").write_bytes(plan)
    result = _ctl(daemon, tmp_path, "submit", "plan.jsonl")
    assert result.returncode == 1
    errors = result.stderr.decode()
    assert "line 1:" in errors and "line 2:" in errors
    listing = json_of(daemon.batchctl("--json", "list", "--all"))
    assert listing["batches"] == []


def test_watch_in_a_terminal_redraws_bars_and_ends_with_the_total(
    daemon: RunningDaemon, tmp_path: Path
) -> None:
    batch = slow_batch(daemon, tmp_path, count=40)
    controller, terminal = os.openpty()
    process = subprocess.Popen(
        [BATCHCTL, "--runtime-dir", str(daemon.runtime_dir), "watch", str(batch)],
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        env=dict(os.environ, TERM="xterm-256color", COLUMNS="100"),
    )
    os.close(terminal)
    screen = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # the terminal closed: batchctl exited
            break
        if not chunk:
            break
        screen += chunk
    os.close(controller)
    assert process.wait(10) == 0
    text = screen.decode(errors="replace")
    assert "\x1b[" in text  # cursor control: the bar is redrawn in place, not appended
    assert "40/40" in text
    assert daemon.wait_batch(batch).completed == 40


def test_watch_without_a_terminal_prints_plain_lines(daemon: RunningDaemon, tmp_path: Path) -> None:
    batch = slow_batch(daemon, tmp_path, count=20)
    result = daemon.batchctl("watch", str(batch))
    assert result.returncode == 0
    lines = result.stdout.strip().splitlines()
    assert "\x1b[" not in result.stdout
    assert lines[-1].startswith(f"batch {batch} completed 20/20")
