"""batchctl submit and the plan builders: what is uploaded, what is printed, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from fake_router import FakeBatchd, FakePublisher, FakeRouter, ProgressScript, accept_as

from batchd.client.cli import main
from batchd.client.plans import move_items, plan_bytes
from batchd.protocol.batch_messages import (
    BatchState,
    PlannedStep,
    Problem,
    SubmitBeginRequest,
    UploadState,
    UploadStatusReply,
)

PLAN = b'{"op": "mkdir", "path": "sorted"}\n{"op": "move", "src": "a.jpg", "dst": "sorted/a.jpg"}\n'


@pytest.fixture
def plan_file(tmp_path: Path) -> Path:
    path = tmp_path / "photos.jsonl"
    path.write_bytes(PLAN)
    return path


def invalid_outcome(
    count: int = 2,
) -> Callable[[bytes, SubmitBeginRequest, str], UploadStatusReply]:
    problems = (
        Problem(1, 'destination sorted/a.jpg exists (add "overwrite": true)'),
        Problem(2, "not JSON: Expecting value: line 1 column 1"),
    )

    def outcome(plan: bytes, begin: SubmitBeginRequest, upload: str) -> UploadStatusReply:
        return UploadStatusReply(upload, UploadState.INVALID, None, 2, count, problems, ())

    return outcome


def checked_outcome(problems: tuple[Problem, ...] = ()) -> Callable[..., UploadStatusReply]:
    steps = (
        PlannedStep(0, 1, "mkdir", b"/w/sorted", None, 0),
        PlannedStep(1, 2, "move", b"/w/caf\xe9.jpg", b"/w/sorted/a.jpg", 1),
    )

    def outcome(plan: bytes, begin: SubmitBeginRequest, upload: str) -> UploadStatusReply:
        assert begin.dry_run
        count = len(problems)
        return UploadStatusReply(upload, UploadState.CHECKED, None, 2, count, problems, steps)

    return outcome


def test_submit_prints_the_batch_id_and_uploads_the_file(
    capsys: pytest.CaptureFixture[str], control: str, plan_file: Path
) -> None:
    fake = FakeBatchd(outcome=accept_as(7))
    with FakeRouter(control, fake):
        assert main(["--endpoint", control, "submit", str(plan_file), "--priority", "3"]) == 0
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("7\n", "")
    assert fake.plans["u1"] == PLAN
    begin = fake.begins["u1"]
    assert (begin.name, begin.priority, begin.dry_run) == ("photos.jsonl", 3, False)


def test_submit_json_is_one_document_with_id_and_total(
    capsys: pytest.CaptureFixture[str], control: str, plan_file: Path
) -> None:
    with FakeRouter(control, FakeBatchd(outcome=accept_as(7))):
        assert main(["--endpoint", control, "submit", str(plan_file), "--json", "--name", "x"]) == 0
    assert json.loads(capsys.readouterr().out) == {"id": 7, "total": 2}


def test_submit_reads_stdin_with_dash(control: str) -> None:
    fake = FakeBatchd(outcome=accept_as(8))
    batchctl = Path(sys.executable).with_name("batchctl")
    with FakeRouter(control, fake):
        run = subprocess.run(
            [str(batchctl), "--endpoint", control, "submit", "-"],
            input=PLAN,
            capture_output=True,
            timeout=30,
            check=False,
        )
    assert run.returncode == 0, run.stderr
    assert run.stdout == b"8\n"
    assert fake.plans["u1"] == PLAN
    assert fake.begins["u1"].name == "stdin"


def test_invalid_plan_prints_every_problem_by_line_and_exits_1(
    capsys: pytest.CaptureFixture[str], control: str, plan_file: Path
) -> None:
    with FakeRouter(control, FakeBatchd(outcome=invalid_outcome(count=5))):
        assert main(["--endpoint", control, "submit", str(plan_file)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        'line 1: destination sorted/a.jpg exists (add "overwrite": true)',
        "line 2: not JSON: Expecting value: line 1 column 1",
        "... and 3 more problems",
        "batchctl: the plan has 5 problems; nothing was submitted",
    ]


def test_invalid_plan_json_is_one_document_and_exits_1(
    capsys: pytest.CaptureFixture[str], control: str, plan_file: Path
) -> None:
    with FakeRouter(control, FakeBatchd(outcome=invalid_outcome())):
        assert main(["--json", "--endpoint", control, "submit", str(plan_file)]) == 1
    captured = capsys.readouterr()
    assert captured.err == ""
    assert json.loads(captured.out) == {
        "state": "invalid",
        "problem_count": 2,
        "problems": [
            {"line": 1, "message": 'destination sorted/a.jpg exists (add "overwrite": true)'},
            {"line": 2, "message": "not JSON: Expecting value: line 1 column 1"},
        ],
    }


def test_dry_run_prints_the_steps_and_exits_0_when_valid(
    capsys: pytest.CaptureFixture[str], control: str, plan_file: Path
) -> None:
    with FakeRouter(control, FakeBatchd(outcome=checked_outcome())):
        assert main(["--endpoint", control, "submit", str(plan_file), "--dry-run"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["LINE", "OP", "PATH", "LEVEL"]
    assert out[1].split() == ["1", "mkdir", "/w/sorted", "0"]
    assert out[2].split() == ["2", "move", "/w/caf\\xe9.jpg", "→", "/w/sorted/a.jpg", "1"]
    assert out[-1] == "dry run: the plan is valid, 2 items; nothing was run"


def test_dry_run_json_with_problems_exits_1(
    capsys: pytest.CaptureFixture[str], control: str, plan_file: Path
) -> None:
    outcome = checked_outcome((Problem(2, "source vanished"),))
    with FakeRouter(control, FakeBatchd(outcome=outcome)):
        assert main(["--json", "--endpoint", control, "submit", str(plan_file), "--dry-run"]) == 1
    document = json.loads(capsys.readouterr().out)
    assert set(document) == {"state", "problem_count", "problems", "total", "preview"}
    assert document["state"] == "checked"
    assert document["problems"] == [{"line": 2, "message": "source vanished"}]
    assert document["preview"][1] == {
        "index": 1,
        "line": 2,
        "op": "move",
        "path": "/w/caf\udce9.jpg",
        "dest": "/w/sorted/a.jpg",
        "level": 1,
    }


@pytest.mark.parametrize(
    ("final", "failed", "status"),
    [(BatchState.COMPLETED, 0, 0), (BatchState.FAILED, 3, 1), (BatchState.CANCELLED, 0, 1)],
)
def test_submit_wait_exits_like_wait(
    capsys: pytest.CaptureFixture[str],
    control: str,
    publish_endpoint: str,
    plan_file: Path,
    *,
    final: BatchState,
    failed: int,
    status: int,
) -> None:
    script = ProgressScript(7, total=20, duration=0.2, final=final, failed=failed).start()
    fake = FakeBatchd(outcome=accept_as(7), scripts={7: script})
    with FakeRouter(control, fake), FakePublisher(publish_endpoint, lambda: [script.event()]):
        assert main(["--endpoint", control, "submit", str(plan_file), "--wait"]) == status
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "7"
    assert out[1].startswith(f"batch 7 {final.value} {20 - failed}/20 (100%) {failed} failed")


def test_submit_wait_json_prints_the_final_progress(
    capsys: pytest.CaptureFixture[str], control: str, plan_file: Path
) -> None:
    script = ProgressScript(7, total=20, duration=0.1).start()
    with FakeRouter(control, FakeBatchd(outcome=accept_as(7), scripts={7: script})):
        assert main(["--json", "--endpoint", control, "submit", str(plan_file), "--wait"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert (document["id"], document["total"], document["state"]) == (7, 20, "completed")


def test_move_builds_the_plan_and_submits_it(
    capsys: pytest.CaptureFixture[str], control: str
) -> None:
    fake = FakeBatchd(outcome=accept_as(9))
    with FakeRouter(control, fake):
        assert main(["--endpoint", control, "move", "a.jpg", "b.jpg", "sorted", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"id": 9, "total": 2}
    assert fake.plans["u1"] == plan_bytes(move_items(["a.jpg", "b.jpg"], "sorted"))
    assert fake.begins["u1"].name == "move 2 items"


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            ["copy", "a", "d", "--overwrite"],
            {"op": "copy", "src": "a", "dst": "d/a", "overwrite": True},
        ),
        (
            ["rename", r"(\d+)", r"n\1", "x/p7.txt", "q.txt"],
            {"op": "move", "src": "x/p7.txt", "dst": "x/pn7.txt"},
        ),
        (["delete", "old.log"], {"op": "delete", "path": "old.log"}),
        (["mkdir", "new"], {"op": "mkdir", "path": "new"}),
        (
            ["transform", "--command", "sed 's/a b/c/'", "n.txt"],
            {"op": "transform", "path": "n.txt", "command": ["sed", "s/a b/c/"]},
        ),
        (
            ["checksum", "--algorithm", "md5", "f"],
            {"op": "checksum", "path": "f", "algorithm": "md5"},
        ),
    ],
)
def test_each_builder_submits_its_plan(
    capsys: pytest.CaptureFixture[str], control: str, argv: list[str], expected: dict[str, object]
) -> None:
    fake = FakeBatchd(outcome=accept_as(4))
    with FakeRouter(control, fake):
        assert main(["--endpoint", control, *argv, "--name", "mine"]) == 0
    assert capsys.readouterr().out == "4\n"
    assert [json.loads(line) for line in fake.plans["u1"].splitlines()] == [expected]
    assert fake.begins["u1"].name == "mine"


@pytest.mark.parametrize(
    ("argv", "status", "message"),
    [
        (["rename", "(", "x", "a"], 2, "bad regular expression"),
        (["transform", "--command", "", "a"], 2, "command is empty"),
        (["move", ".", "d"], 2, "has no name"),
        (["rename", "zzz", "y", "a", "b"], 1, "no path matches"),
        (["submit", "/nonexistent/plan.jsonl"], 1, "cannot read the plan"),
    ],
)
def test_bad_builder_arguments_fail_before_connecting(
    capsys: pytest.CaptureFixture[str], argv: list[str], status: int, message: str
) -> None:
    # No daemon at this endpoint: the arguments are judged first.
    assert main(["--endpoint", "ipc:///nonexistent/control.sock", *argv]) == status
    err = capsys.readouterr().err
    assert err.startswith("batchctl: ") and message in err
    assert err.count("\n") == 1


def test_wait_and_watch_exclude_each_other(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["submit", "p", "--wait", "--watch"]) == 2
    assert "not allowed with" in capsys.readouterr().err
