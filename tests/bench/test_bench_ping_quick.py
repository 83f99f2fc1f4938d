"""The ping benchmark still runs (quick sizes); numbers are recorded by `make bench`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_ping_bench_runs_quick() -> None:
    script = Path(__file__).with_name("bench_ping.py")
    result = subprocess.run(
        [sys.executable, str(script), "--quick"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    numbers = json.loads(result.stdout.strip().splitlines()[-1])
    for key in ("daemon_p50_us", "daemon_p99_us", "echo_p50_us", "echo_p99_us", "ratio_p50"):
        assert numbers[key] > 0
