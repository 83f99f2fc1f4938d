"""The scaling benchmark still runs (quick sizes); numbers are recorded by `make bench`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_scaling_bench_runs_quick() -> None:
    script = Path(__file__).with_name("bench_scaling.py")
    result = subprocess.run(
        [sys.executable, str(script), "--quick"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    numbers = json.loads(result.stdout.strip().splitlines()[-1])
    for key in (
        "item_ms",
        "serial_seconds",
        "w1_seconds",
        "w2_seconds",
        "speedup",
    ):
        assert numbers[key] > 0, key
