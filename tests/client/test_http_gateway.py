"""``batchd-http`` as a real process in front of a real daemon, asked with a real HTTP client."""

from __future__ import annotations

import json
import selectors
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from polling import wait_until
from running_daemon import RunningDaemon, json_of
from sample_plans import plan_bytes
from trees import make_files

from batchd.client.http_api import PROGRESS_KEYS
from batchd.protocol.batch_messages import BatchProgress, PauseRequest

BATCHD_HTTP = str(Path(sys.executable).with_name("batchd-http"))


@dataclass
class Answer:
    """One HTTP answer: status, headers and the JSON document."""

    status: int
    headers: dict[str, str]
    document: object

    @property
    def code(self) -> str:
        """The error code of an error document."""
        return str(self._error()["code"])

    @property
    def message(self) -> str:
        """The message of an error document."""
        return str(self._error()["message"])

    def outcome(self) -> tuple[int, str]:
        """(status, error code)."""
        return self.status, self.code

    def _error(self) -> dict[str, object]:
        assert isinstance(self.document, dict), self
        error = self.document["error"]
        assert isinstance(error, dict) and set(error) == {"code", "message"}, self
        return error


@dataclass
class RunningGateway:
    """A `batchd-http` child process and the base URL it printed."""

    process: subprocess.Popen[str]
    url: str

    def ask(self, method: str, path: str, body: bytes | None = None) -> Answer:
        """Send one request with urllib and parse the JSON answer, errors included."""
        request = urllib.request.Request(self.url + path, data=body, method=method)
        if body is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, headers, raw = response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            status, headers, raw = error.code, dict(error.headers), error.read()
        assert headers["Content-Type"] == "application/json"
        return Answer(status, headers, json.loads(raw) if raw else None)

    def post(self, path: str, operation_id: object) -> Answer:
        """POST ``{"operation_id": ...}``."""
        return self.ask("POST", path, json.dumps({"operation_id": operation_id}).encode())


def start_gateway(tmp_path: Path, *args: str) -> RunningGateway:
    """Start batchd-http on a free port (port 0: it prints the one it got)."""
    log = (tmp_path / "gateway.log").open("w")
    process = subprocess.Popen(
        [BATCHD_HTTP, "--listen", "127.0.0.1:0", *args],
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout=15):
            process.kill()
            pytest.fail(f"batchd-http printed nothing within 15 s: {process.args}")
    line = process.stdout.readline()
    assert line.startswith("batchd-http: listening on http://127.0.0.1:"), line
    return RunningGateway(process, line.split()[-1])


def stop_gateway(gateway: RunningGateway) -> int:
    """SIGTERM the gateway and return its exit status."""
    if gateway.process.poll() is None:
        gateway.process.send_signal(signal.SIGTERM)
    try:
        return gateway.process.wait(10)
    except subprocess.TimeoutExpired:
        gateway.process.kill()
        raise


@pytest.fixture
def gateway(daemon: RunningDaemon, tmp_path: Path) -> Iterator[RunningGateway]:
    """A gateway in front of the `daemon` fixture; it must stop cleanly on SIGTERM."""
    running = start_gateway(tmp_path, "--runtime-dir", str(daemon.runtime_dir), "--timeout", "2")
    yield running
    assert stop_gateway(running) == 0


def submit_moves(daemon: RunningDaemon, root: Path, count: int = 3) -> int:
    """Move ``f<i>`` to ``g<i>`` in ``root`` and wait for the batch to end; its id."""
    make_files(root, {f"f{i}": f"content {i}\n".encode() for i in range(count)})
    plan = plan_bytes(*({"op": "move", "src": f"f{i}", "dst": f"g{i}"} for i in range(count)))
    status = daemon.submit(plan, root)
    assert status.batch is not None, status.problems
    assert daemon.wait_batch(status.batch).state.value == "completed"
    return status.batch


def submit_slow(daemon: RunningDaemon, root: Path, count: int = 12) -> int:
    """Transforms of ``x`` into ``y``, 0.3 s each (the machine may have 2 CPUs or 64)."""
    make_files(root, {f"s{i}": b"x\n" for i in range(count)})
    command = ["sh", "-c", "sleep 0.3; tr x y"]
    plan = plan_bytes(
        *({"op": "transform", "path": f"s{i}", "command": command} for i in range(count))
    )
    status = daemon.submit(plan, root)
    assert status.batch is not None, status.problems
    return status.batch


def test_progress_matches_batchctl(
    daemon: RunningDaemon, gateway: RunningGateway, tmp_path: Path
) -> None:
    batch = submit_moves(daemon, tmp_path / "data")
    answer = gateway.ask("GET", f"/api/batch-progress/{batch}")
    assert answer.status == 200
    assert isinstance(answer.document, dict)
    assert tuple(answer.document) == PROGRESS_KEYS
    batchctl = json_of(daemon.batchctl("--json", "progress", str(batch)))
    assert answer.document == {key: batchctl[key] for key in PROGRESS_KEYS}
    assert answer.document == {"total": 3, "completed": 3, "failed": 0, "progress": 1.0, "eta": 0.0}
    head = gateway.ask("HEAD", f"/api/batch-progress/{batch}")
    assert (head.status, head.document) == (200, None)


def test_unknown_ids_paths_and_methods(gateway: RunningGateway) -> None:
    missing = gateway.ask("GET", "/api/batch-progress/4242")
    assert missing.status == 404
    assert missing.document == {
        "error": {"code": "BATCH_NOT_FOUND", "message": "no batch with id 4242"}
    }
    for path in ("/api/resume-operation", "/api/rollback"):
        answer = gateway.post(path, 4242)
        assert answer.outcome() == (404, "BATCH_NOT_FOUND"), path
    for path in ("/", "/api/batch-progress/", "/api/batch-progress/1/x", "/api/rollbacks"):
        assert gateway.ask("GET", path).outcome() == (404, "NOT_FOUND"), path
    for path in (
        "/api/batch-progress/abc",
        "/api/batch-progress/-1",
        "/api/batch-progress/" + "9" * 30,
    ):
        answer = gateway.ask("GET", path)
        assert answer.outcome() == (400, "INVALID_OPERATION_ID"), path
    wrong = gateway.ask("GET", "/api/rollback")
    assert (wrong.outcome(), wrong.headers["Allow"]) == ((405, "METHOD_NOT_ALLOWED"), "POST")
    wrong = gateway.ask("DELETE", "/api/batch-progress/1")
    assert (wrong.status, wrong.headers["Allow"]) == (405, "GET, HEAD")


@pytest.mark.parametrize("path", ["/api/resume-operation", "/api/rollback"])
def test_bad_bodies_are_400(gateway: RunningGateway, path: str) -> None:
    bodies = {
        b"": "INVALID_BODY",
        b"operation_id=1": "INVALID_BODY",
        b"\xff\xfe": "INVALID_BODY",
        b"[1]": "INVALID_BODY",
        b"{}": "INVALID_BODY",
        b'{"operation_id": "1"}': "INVALID_BODY",
        b'{"operation_id": 1.0}': "INVALID_BODY",
        b'{"operation_id": true}': "INVALID_BODY",
        b'{"operation_id": null}': "INVALID_BODY",
        b'{"operation_id": NaN}': "INVALID_BODY",
        b'{"operation_id": 1, "force": true}': "INVALID_BODY",
        b'{"operation_id": -1}': "INVALID_OPERATION_ID",
        b'{"operation_id": 9223372036854775808}': "INVALID_OPERATION_ID",
    }
    for body, code in bodies.items():
        answer = gateway.ask("POST", path, body)
        assert answer.outcome() == (400, code), body
        assert "operation_id" in answer.message, body


def test_resume_runs_a_paused_batch_again(
    daemon: RunningDaemon, gateway: RunningGateway, tmp_path: Path
) -> None:
    batch = submit_slow(daemon, tmp_path / "slow")
    assert daemon.request(PauseRequest(batch), BatchProgress).state.value == "paused"
    answer = gateway.post("/api/resume-operation", batch)
    assert answer.status == 200
    assert isinstance(answer.document, dict) and tuple(answer.document) == PROGRESS_KEYS
    assert answer.document["total"] == 12
    assert daemon.progress(batch).state.value in ("running", "completed")
    assert daemon.wait_batch(batch).state.value == "completed"
    again = gateway.post("/api/resume-operation", batch)
    assert again.outcome() == (409, "INVALID_ARGUMENTS")
    assert f"batch {batch}" in again.message


def test_rollback_restores_the_files(
    daemon: RunningDaemon, gateway: RunningGateway, tmp_path: Path
) -> None:
    root = tmp_path / "data"
    batch = submit_moves(daemon, root)
    assert sorted(path.name for path in root.iterdir()) == ["g0", "g1", "g2"]
    answer = gateway.post("/api/rollback", batch)
    assert answer.status == 200
    assert isinstance(answer.document, dict)
    rollback = answer.document["rollback_id"]
    assert isinstance(rollback, int) and rollback != batch
    assert answer.document == {
        "operation_id": batch,
        "rollback_id": rollback,
        "state": "rolling_back",
    }
    assert daemon.wait_batch(rollback).state.value == "completed"
    assert sorted(path.name for path in root.iterdir()) == ["f0", "f1", "f2"]
    assert (root / "f1").read_bytes() == b"content 1\n"
    progress = gateway.ask("GET", f"/api/batch-progress/{rollback}").document
    assert progress == {"total": 3, "completed": 3, "failed": 0, "progress": 1.0, "eta": 0.0}
    again = gateway.post("/api/rollback", batch)
    assert again.status == 200
    assert again.document == {"operation_id": batch, "rollback_id": None, "state": "rolled_back"}


def test_rollback_of_a_running_batch_waits_for_it(
    daemon: RunningDaemon, gateway: RunningGateway, tmp_path: Path
) -> None:
    root = tmp_path / "slow"
    batch = submit_slow(daemon, root)
    # With nothing finished yet, the cancelled batch would have nothing to undo.
    wait_until(lambda: daemon.progress(batch).completed >= 1, 30, what="a first step")
    answer = gateway.post("/api/rollback", batch)  # BATCH_BUSY first: the client waits, retries
    assert answer.status == 200, answer.document
    assert isinstance(answer.document, dict)
    rollback = answer.document["rollback_id"]
    assert isinstance(rollback, int)
    daemon.wait_batch(rollback)
    assert {path.read_bytes() for path in root.iterdir()} == {b"x\n"}
    assert daemon.progress(batch).state.value in ("rolled_back", "partially_rolled_back")


def test_rollback_of_a_batch_that_changed_nothing(
    daemon: RunningDaemon, gateway: RunningGateway, tmp_path: Path
) -> None:
    status = daemon.submit(b"", tmp_path)  # an empty plan: a batch of no steps
    assert status.batch is not None
    assert daemon.wait_batch(status.batch).state.value == "completed"
    answer = gateway.post("/api/rollback", status.batch)
    assert answer.status == 200, answer.document
    assert answer.document == {
        "operation_id": status.batch,
        "rollback_id": None,
        "state": daemon.progress(status.batch).state.value,
    }


def test_daemon_unreachable_is_503(daemon_factory: type[RunningDaemon], tmp_path: Path) -> None:
    daemon = daemon_factory()
    gateway = start_gateway(tmp_path, "--runtime-dir", str(daemon.runtime_dir), "--timeout", "2")
    try:
        before = gateway.ask("GET", "/api/batch-progress/1")  # the daemon is not started yet
        assert before.outcome() == (503, "DAEMON_UNREACHABLE")
        assert str(daemon.runtime_dir) in before.message
        daemon.start()
        assert gateway.ask("GET", "/api/batch-progress/1").code == "BATCH_NOT_FOUND"
        daemon.kill()
        started = time.monotonic()
        after = gateway.post("/api/rollback", 1)
        assert after.outcome() == (503, "DAEMON_UNREACHABLE")
        assert time.monotonic() - started < 1.5  # the idle client is probed, no 2 s timeout
        daemon.start()
        assert wait_until(
            lambda: gateway.ask("GET", "/api/batch-progress/1").code == "BATCH_NOT_FOUND", 10
        )
    finally:
        assert stop_gateway(gateway) == 0
