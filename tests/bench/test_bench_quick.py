"""Every benchmark still runs in quick mode and reports every number it promises.

The numbers themselves are recorded by `make bench` in BENCHMARKS.md; here each script runs
with ``--quick`` (and ``--dir`` where it writes a lot) and its last output line, one JSON
object, must hold a positive number at each listed path.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).parent

APPEND = [
    f"append.{group}.{key}"
    for group in ("1", "10", "100", "1000")
    for key in ("records", "payload_bytes", "journal_rps", "raw_rps", "ratio")
]
REPLAY = [
    f"replay.{key}"
    for key in (
        "records",
        "journal_bytes",
        "journal_s",
        "unpacker_s",
        "ratio",
        "decoded_records_s",
        "decoded_ratio",
    )
]

# script: (takes --dir, dotted paths of numbers that must be positive)
PROMISED: dict[str, tuple[bool, list[str]]] = {
    "bench_journal.py": (True, [*APPEND, *REPLAY]),
    "bench_plan.py": (
        True,
        [
            "validate.items",
            "validate.steps",
            "validate.seconds",
            "validate.us_per_item",
            "validate.peak_bytes_per_item",
            "store.write_s",
            "store.read_s",
            "store.bytes_on_disk",
            "store.levels",
        ],
    ),
    "bench_restart.py": (
        True,
        [
            "journal_bytes",
            "segments",
            "checkpoint_bytes",
            "append.plain_us",
            "append.with_fold_us",
            "ready_s.a_full_replay",
            "ready_s.b_checkpoint",
            "ready_s.c_empty",
            "recovery_s.a_full_replay",
            "recovery_s.b_checkpoint",
        ],
    ),
    "bench_ping.py": (
        False,
        ["daemon_p50_us", "daemon_p99_us", "echo_p50_us", "echo_p99_us", "ratio_p50"],
    ),
    "bench_rollback.py": (
        False,
        [
            "forward_per_s",
            "plan_s",
            "exec_per_s",
            "total_per_s",
            "rename_back_per_s",
            "rollback_vs_forward",
            "rollback_vs_rename_loop",
        ],
    ),
    "bench_moves.py": (
        False,
        [
            "batchd_wall_per_s",
            "batchd_exec_per_s",
            "rename_per_s",
            "parallel_per_s",
            "parallel_x_per_s",
            "ratio_vs_rename",
            "ratio_vs_parallel",
        ],
    ),
    "bench_scaling.py": (
        False,
        ["item_ms", "serial_seconds", "w1_seconds", "w2_seconds", "speedup"],
    ),
    "bench_memory.py": (
        False,
        [
            "peak_rss_mib",
            "median_rss_mib",
            "idle_median_mib",
            "validation_seconds",
            "items_per_s",
        ],
    ),
    "bench_progress.py": (
        False,
        [
            "busy_progress_p50_us",
            "busy_progress_p99_us",
            "busy_ping_p50_us",
            "busy_ping_p99_us",
            "idle_progress_p99_us",
        ],
    ),
}


def test_every_benchmark_is_listed() -> None:
    assert {p.name for p in BENCH.glob("bench_*.py")} == set(PROMISED)


def _at(document: object, path: str) -> object:
    for part in path.split("."):
        assert isinstance(document, dict) and part in document, path
        document = document[part]
    return document


@pytest.mark.parametrize("script", sorted(PROMISED))
def test_quick_run_reports_positive_numbers(script: str, tmp_path: Path) -> None:
    takes_dir, paths = PROMISED[script]
    command = [sys.executable, str(BENCH / script), "--quick"]
    if takes_dir:
        command += ["--dir", str(tmp_path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    for path in paths:
        value = _at(result, path)
        assert isinstance(value, int | float) and value > 0, (path, value)
    if script == "bench_restart.py":
        recovery = result["recovery_s"]
        assert recovery["b_checkpoint"] < recovery["a_full_replay"]
