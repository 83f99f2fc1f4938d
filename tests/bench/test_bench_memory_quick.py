"""The memory benchmark still runs (quick sizes); numbers are recorded by `make bench`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_memory_bench_runs_quick() -> None:
    script = Path(__file__).with_name("bench_memory.py")
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
        "peak_rss_mib",
        "median_rss_mib",
        "idle_median_mib",
        "validation_seconds",
        "items_per_s",
    ):
        assert numbers[key] > 0, key
