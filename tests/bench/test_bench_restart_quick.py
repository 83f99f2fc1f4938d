"""The restart benchmark runs in quick mode and reports every number it promises."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).with_name("bench_restart.py")


def test_quick_benchmark_reports_positive_numbers(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["quick"] is True
    assert result["records"] == 2 * result["items"] + 4
    for key in ("journal_bytes", "segments", "checkpoint_bytes"):
        assert result[key] > 0, key
    assert set(result["ready_s"]) == {"a_full_replay", "b_checkpoint", "c_empty"}
    assert all(seconds > 0 for seconds in result["ready_s"].values())
    assert set(result["recovery_s"]) == {"a_full_replay", "b_checkpoint"}
    assert result["recovery_s"]["b_checkpoint"] < result["recovery_s"]["a_full_replay"]
    for key in ("plain_us", "with_fold_us"):
        assert result["append"][key] > 0, key
