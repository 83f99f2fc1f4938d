"""The validator launcher: a warm spare takes the job; without one (or a dead one) a fresh
validator does. Real processes, a real plan over a real temp tree."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import msgpack
import pytest

from batchd.daemon.batches.summary import SUMMARY_NAME
from batchd.daemon.batches.validator_launcher import JOB_FROM_STDIN, MODULE, ValidatorLauncher
from batchd.daemon.plan.store import PlanStore


def _job(tmp_path: Path, name: str) -> tuple[list[str], Path]:
    tree = tmp_path / "tree"
    tree.mkdir(exist_ok=True)
    (tree / f"{name}.txt").write_text("data")
    plan = tmp_path / f"{name}.jsonl"
    plan.write_text(f'{{"op": "move", "src": "{name}.txt", "dst": "{name}-moved.txt"}}\n')
    out = tmp_path / f"out-{name}"
    arguments = ["--plan", str(plan), "--cwd", os.fsencode(tree).hex(), "--out", str(out)]
    return [*arguments, "--batch", "7", "--handlers", ""], out


def _finished_valid(process: subprocess.Popen[bytes], out: Path) -> bool:
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    valid, total, *_ = msgpack.unpackb((out / SUMMARY_NAME).read_bytes())
    assert total == 1
    assert PlanStore.open(out).total == 1
    return bool(valid)


@pytest.fixture
def launcher():
    launcher = ValidatorLauncher()
    yield launcher
    launcher.close()


def test_the_warm_spare_takes_the_job(launcher, tmp_path) -> None:
    launcher.warm()
    spare = launcher._spare
    assert spare is not None
    launcher.warm()  # one spare at most
    assert launcher._spare is spare
    arguments, out = _job(tmp_path, "a")
    process = launcher.start(arguments)
    assert process is spare
    assert _finished_valid(process, out)


def test_without_a_spare_a_validator_starts_for_the_job(launcher, tmp_path) -> None:
    arguments, out = _job(tmp_path, "b")
    assert _finished_valid(launcher.start(arguments), out)


def test_a_dead_spare_is_replaced_by_a_fresh_validator(launcher, tmp_path) -> None:
    launcher.warm()
    spare = launcher._spare
    assert spare is not None
    spare.send_signal(signal.SIGKILL)
    spare.wait()
    arguments, out = _job(tmp_path, "c")
    process = launcher.start(arguments)
    assert process is not spare
    assert _finished_valid(process, out)


def test_close_stops_the_spare(launcher) -> None:
    launcher.warm()
    spare = launcher._spare
    assert spare is not None
    launcher.close()
    assert spare.poll() is not None


def _spare_fed(stdin: bytes, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    """A spare validator run to its end with ``stdin`` as its input."""
    command = [sys.executable, "-m", MODULE, JOB_FROM_STDIN]
    return subprocess.run(
        command, check=False, input=stdin, capture_output=True, timeout=60, cwd=cwd
    )


def test_a_spare_whose_input_closes_exits_cleanly_without_doing_anything(tmp_path) -> None:
    process = _spare_fed(b"", tmp_path)
    assert process.returncode == 0, process.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_malformed_job_is_refused(tmp_path) -> None:
    process = _spare_fed(b'{"plan": 1}\n', tmp_path)
    assert process.returncode != 0
    assert b"JSON array of strings" in process.stderr
