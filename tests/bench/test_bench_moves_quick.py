"""The moves benchmark still runs (quick sizes); numbers are recorded by `make bench`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_moves_bench_runs_quick() -> None:
    script = Path(__file__).with_name("bench_moves.py")
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
        "batchd_wall_per_s",
        "batchd_exec_per_s",
        "rename_per_s",
        "parallel_per_s",
        "parallel_x_per_s",
        "ratio_vs_rename",
        "ratio_vs_parallel",
    ):
        assert numbers[key] > 0, key
