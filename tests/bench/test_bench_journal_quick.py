"""The journal benchmark runs in quick mode and reports every number it promises."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).with_name("bench_journal.py")


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
    assert set(result["append"]) == {"1", "10", "100", "1000"}
    for row in result["append"].values():
        for key in ("records", "payload_bytes", "journal_rps", "raw_rps", "ratio"):
            assert row[key] > 0, key
    for key in (
        "records",
        "journal_bytes",
        "journal_s",
        "unpacker_s",
        "ratio",
        "decoded_records_s",
        "decoded_ratio",
    ):
        assert result["replay"][key] > 0, key
