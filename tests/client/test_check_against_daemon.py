"""``batchctl check`` against a real daemon: OK, WARNING after a failed item, UNKNOWN."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from running_daemon import BATCHCTL, RunningDaemon
from sample_plans import plan_bytes
from trees import make_files


def check(daemon: RunningDaemon, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            BATCHCTL,
            "--runtime-dir",
            str(daemon.runtime_dir),
            "check",
            "--state-file",
            str(tmp_path / "check-state.json"),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_ok_with_no_failures(daemon: RunningDaemon, tmp_path: Path) -> None:
    make_files(tmp_path / "data", {"a": b"x"})
    status = daemon.submit(plan_bytes({"op": "checksum", "path": "a"}), tmp_path / "data")
    assert status.batch is not None
    daemon.wait_batch(status.batch)
    result = check(daemon, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("\n") == 1
    assert re.fullmatch(
        r"BATCHD OK - 0 active batches, 0 failed items \| active=0;;;0 failed=0;1;10;0 "
        r"stalled=0;;1;0 workers=\d+;;;0 memory_kills=0;2;;0 cpu_throttles=\d+;;;0\n",
        result.stdout,
    ), result.stdout


def test_warning_after_a_failed_item_then_critical_over_the_threshold(
    daemon: RunningDaemon, tmp_path: Path
) -> None:
    make_files(tmp_path / "data", {"a": b"x", "b": b"y"})
    plan = plan_bytes(
        {"op": "move", "src": "a", "dst": "a2"},
        {"op": "transform", "path": "b", "command": ["false"]},
    )
    status = daemon.submit(plan, tmp_path / "data")
    assert status.batch is not None
    daemon.wait_batch(status.batch)
    warning = check(daemon, tmp_path)
    assert warning.returncode == 1, warning.stdout
    assert warning.stdout.startswith(
        f"BATCHD WARNING - 0 active batches, 1 failed item; 1 failed item in batch {status.batch} |"
    )
    critical = check(daemon, tmp_path, "--failed-crit", "1", "--json")
    assert critical.returncode == 2
    document = json.loads(critical.stdout)
    assert (document["status"], document["exit"]) == ("CRITICAL", 2)
    assert document["perfdata"]["failed"] == {"value": 1, "warn": 1, "crit": 1}
    # Rolled back, the batch no longer counts.
    assert daemon.batchctl("rollback", str(status.batch), "--wait").returncode == 0
    after = check(daemon, tmp_path)
    assert after.returncode == 0, after.stdout


def test_unknown_with_exit_3_when_no_daemon_listens(tmp_path: Path) -> None:
    result = subprocess.run(
        [BATCHCTL, "--runtime-dir", str(tmp_path), "--timeout", "1", "check"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 3
    assert result.stdout.startswith("BATCHD UNKNOWN - no batchd is listening at ipc://")
    assert result.stdout.count("\n") == 1
