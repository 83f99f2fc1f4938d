"""A client in another language, written from docs/protocol.md alone, against the real daemon.

tests/interop/node/client.mjs (Node.js, the `zeromq` and `@msgpack/msgpack` packages pinned in
its package-lock.json) shakes hands, pings, submits a plan, follows the batch by `progress`
and by events, and prints one JSON summary; this test checks the summary and the files.

The packages are installed with ``npm ci`` into build/node_modules_cache (ignored by git), once
per package-lock.json: later runs reuse them without the network. Without node and npm the
test is skipped, except under ``CI=true`` where it fails.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from running_daemon import RunningDaemon
from sample_plans import plan_bytes
from trees import make_files

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = Path(__file__).resolve().parent / "node"
CACHE = ROOT / "build" / "node_modules_cache"
PACKAGE_FILES = ("package.json", "package-lock.json", "client.mjs")
MIN_NODE_MAJOR = 20


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"the Node.js interop test cannot run in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def node_client() -> Path:
    """The directory holding client.mjs next to its installed node_modules."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        _unavailable("node and npm are needed (Node.js 20: apt-get install nodejs npm)")
    assert node is not None and npm is not None
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=False)
    major = int(version.stdout.strip().lstrip("v").split(".")[0] or 0)
    if major < MIN_NODE_MAJOR:
        _unavailable(f"Node.js {MIN_NODE_MAJOR} or later is needed, found {version.stdout.strip()}")
    CACHE.mkdir(parents=True, exist_ok=True)
    for name in PACKAGE_FILES:
        shutil.copyfile(PACKAGE / name, CACHE / name)
    lock_digest = hashlib.sha256((PACKAGE / "package-lock.json").read_bytes()).hexdigest()
    stamp = CACHE / "node_modules" / ".installed-from-lock"
    if not (stamp.exists() and stamp.read_text() == lock_digest):
        # --ignore-scripts: zeromq ships prebuilt binaries; its install script would only
        # try a native build (cmake) when they do not fit.
        install = subprocess.run(
            [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--prefer-offline"],
            cwd=CACHE,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if install.returncode != 0:
            _unavailable(f"npm ci failed in {CACHE}: {install.stderr.strip()[-2000:]}")
        stamp.write_text(lock_digest)
    return CACHE


def test_node_client_submits_and_follows_a_batch(
    daemon: RunningDaemon, node_client: Path, tmp_path: Path
) -> None:
    data = tmp_path / "photos"
    make_files(data, {"a.jpg": b"jpeg bytes", "notes.txt": b"some notes\n"})
    plan = tmp_path / "plan.jsonl"
    plan.write_bytes(
        plan_bytes(
            {"op": "mkdir", "path": "sorted"},
            {"op": "move", "src": "a.jpg", "dst": "sorted/a.jpg"},
            {"op": "copy", "src": "notes.txt", "dst": "notes-copy.txt"},
        )
    )
    result = subprocess.run(
        [
            "node",
            str(node_client / "client.mjs"),
            *("--control", daemon.control_endpoint, "--events", daemon.events_endpoint),
            *("--cwd", str(data), "--plan", str(plan), "--name", "from-node"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = result.stdout.splitlines()
    assert len(lines) == 1, (result.stdout, result.stderr)
    summary = json.loads(lines[0])
    assert summary["ok"] is True, (summary, result.stderr)
    assert result.returncode == 0

    pid = daemon.process.pid  # type: ignore[union-attr]
    assert summary["hello"] == {"protocol": 1, "daemon_version": "0.1.0", "pid": pid}
    assert summary["ping"]["pid"] == pid
    assert Path(summary["ping"]["state_dir"]) == daemon.state_dir.resolve()

    upload = summary["upload"]
    batch = upload["batch"]
    assert (upload["state"], upload["total"], upload["chunks"]) == ("accepted", 3, 1)
    assert upload["chunk_bytes"] == 1048576
    steps = {step["op"]: step for step in upload["preview"]}
    assert steps["mkdir"] == {
        "line": 1,
        "op": "mkdir",
        "path": str(data / "sorted"),
        "dest": None,
        "level": 0,
    }
    assert steps["move"]["dest"] == str(data / "sorted" / "a.jpg")
    assert steps["move"]["level"] == 1

    progress = summary["progress"]
    assert progress == {
        "id": batch,
        "name": "from-node",
        "state": "completed",
        "total": 3,
        "completed": 3,
        "failed": 0,
        "progress": 1.0,
        "eta": 0.0,
        "finished": True,
        "polls": progress["polls"],
    }
    python_view = daemon.progress(batch)
    assert (python_view.completed, python_view.state.value) == (3, "completed")

    events = summary["events"]
    assert events["topic"] == f"batch.{batch}"
    assert events["progress_events"] >= 1
    assert (events["last_state"], events["last_completed"]) == ("completed", 3)
    assert events["seqs"] == sorted(events["seqs"])

    assert (data / "sorted" / "a.jpg").read_bytes() == b"jpeg bytes"
    assert not (data / "a.jpg").exists()
    assert (data / "notes-copy.txt").read_bytes() == b"some notes\n"
    assert (data / "notes.txt").read_bytes() == b"some notes\n"
