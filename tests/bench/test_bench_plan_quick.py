"""The plan benchmark runs in quick mode and reports every number it promises."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).with_name("bench_plan.py")


def test_quick_benchmark_reports_positive_numbers(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["quick"] is True
    for key in ("items", "steps", "seconds", "us_per_item", "peak_bytes_per_item"):
        assert result["validate"][key] > 0, key
    for key in ("write_s", "read_s", "bytes_on_disk", "levels"):
        assert result["store"][key] > 0, key
