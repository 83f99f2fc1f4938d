"""docs/python-client.md stays true: every ``python`` block in it runs against a real daemon.

Each block runs as its own script in a fresh interpreter, in a fresh directory holding the
files the document says the examples start from, with ``$BATCHD_RUNTIME_DIR`` naming the test
daemon's runtime directory, so the examples' ``Client.connect()`` finds it the documented way.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from running_daemon import RunningDaemon

DOC = Path(__file__).resolve().parents[2] / "docs" / "python-client.md"
BLOCK = re.compile(r"^```python\n(.*?)^```$", re.DOTALL | re.MULTILINE)
PLAN_BLOCK = re.compile(r"this `plan.jsonl`.*?\n```\n(.*?)```", re.DOTALL)


def _blocks() -> list[tuple[int, str]]:
    text = DOC.read_text(encoding="utf-8")
    return [(text.count("\n", 0, match.start()) + 1, match[1]) for match in BLOCK.finditer(text)]


def _example_directory(root: Path) -> Path:
    """The starting files the document describes: notes/{a,b,c}.txt and its plan.jsonl."""
    plan = PLAN_BLOCK.search(DOC.read_text(encoding="utf-8"))
    assert plan is not None, "the document shows the plan.jsonl the examples use"
    root.mkdir()
    (root / "notes").mkdir()
    for name in ("a", "b", "c"):
        (root / "notes" / f"{name}.txt").write_text(f"note {name}\n")
    (root / "plan.jsonl").write_text(plan[1])
    return root


def test_the_document_has_examples_of_each_topic() -> None:
    code = "\n".join(block for _, block in _blocks())
    for call in ("Client.connect(", "submit_plan(", "on_progress=", ".watch(", ".events("):
        assert call in code
    for call in ("dry_run=True", ".rollback(", "except BatchBusy", "except BatchNotFound"):
        assert call in code
    assert "except DaemonUnreachable" in code
    assert "except RollbackBlocked" in code


@pytest.mark.parametrize(
    ("line", "code"), _blocks(), ids=lambda v: f"line{v}" if isinstance(v, int) else ""
)
def test_example_runs(daemon: RunningDaemon, tmp_path: Path, line: int, code: str) -> None:
    workdir = _example_directory(tmp_path / "example")
    script = tmp_path / f"example_line{line}.py"
    script.write_text(code)
    env = dict(os.environ, BATCHD_RUNTIME_DIR=str(daemon.runtime_dir))
    run = subprocess.run(
        [sys.executable, str(script)],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, (
        f"the example at docs/python-client.md line {line} failed:\n{run.stdout}\n{run.stderr}"
    )
