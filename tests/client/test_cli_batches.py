"""batchctl progress, list, show, pause/resume/cancel/retry, wait and watch (not a TTY)."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from fake_router import FakeBatchd, FakePublisher, FakeRouter, ProgressScript, progress_of

from batchd.client.cli import main
from batchd.protocol.batch_messages import (
    BatchState,
    ItemInfo,
    ItemState,
    ListReply,
    ShowReply,
    ShowRequest,
)

PROGRESS_KEYS = {
    "id",
    "name",
    "state",
    "total",
    "completed",
    "failed",
    "progress",
    "eta",
    "rate",
    "running",
    "pending",
    "elapsed",
    "retried",
    "priority",
    "submitted_at",
    "finished_at",
    "rollback_of",
    "rolled_back",
    "conflicts",
    "note",
}

RUNNING = progress_of(3, BatchState.RUNNING, 500, 120, name="photos", rate=50.1, eta=7.6)


def items() -> list[ItemInfo]:
    return [
        ItemInfo(i, i + 1, "move", f"src/{i}.jpg".encode(), f"dst/{i}.jpg".encode(),
                 ItemState.COMPLETED, 1, "", "", "")
        for i in range(2500)
    ]  # fmt: skip


FAILED_ITEM = ItemInfo(
    0, 4, "move", b"caf\xe9.jpg", b"out/x.jpg", ItemState.FAILED, 3, "permission denied", "", ""
)


def show_reply(message: ShowRequest) -> ShowReply:
    if message.failed_only:
        return ShowReply(RUNNING, (FAILED_ITEM,), 1)
    everything = items()
    page = everything[message.offset : message.offset + message.limit]
    return ShowReply(RUNNING, tuple(page), len(everything))


def fake() -> FakeBatchd:
    return FakeBatchd(
        scripts={3: ProgressScript(3, total=500, duration=60, name="photos").start()},
        replies={
            "list": ListReply((RUNNING, progress_of(4, BatchState.PAUSED, 10, 2))),
            "show": show_reply,
            "pause": progress_of(3, BatchState.PAUSED, 500, 120),
            "resume": RUNNING,
            "cancel": progress_of(3, BatchState.CANCELLED, 500, 120),
            "retry": RUNNING,
        },
    )


def run(capsys: pytest.CaptureFixture[str], control: str, *argv: str) -> tuple[int, str, str]:
    with FakeRouter(control, fake()):
        status = main(["--endpoint", control, *argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_progress_json_has_every_field_with_enum_values(
    capsys: pytest.CaptureFixture[str], control: str
) -> None:
    status, out, err = run(capsys, control, "progress", "3", "--json")
    assert (status, err) == (0, "")
    document = json.loads(out)
    assert set(document) == PROGRESS_KEYS
    assert document["state"] == "running"
    assert document["name"] == "photos"
    assert 0.0 <= document["progress"] <= 1.0


def test_progress_human_rows(capsys: pytest.CaptureFixture[str], control: str) -> None:
    status, out, _ = run(capsys, control, "progress", "3")
    assert status == 0
    assert re.search(r"^state: +running$", out, re.M)
    assert re.search(r"^completed: +\d+ of 500$", out, re.M)


def test_unknown_batch_exits_1_with_one_line(
    capsys: pytest.CaptureFixture[str], control: str
) -> None:
    status, out, err = run(capsys, control, "progress", "99", "--json")
    assert (status, out, err) == (1, "", "batchctl: no batch 99\n")


@pytest.mark.parametrize("argv", [["progress"], ["progress", "x"], ["show", "-1"], ["wait"]])
def test_bad_batch_ids_are_usage_errors(
    capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    assert main(argv) == 2


def test_list_json_and_table(capsys: pytest.CaptureFixture[str], control: str) -> None:
    status, out, _ = run(capsys, control, "list", "--json")
    assert status == 0
    document = json.loads(out)
    assert list(document) == ["batches"]
    assert [b["id"] for b in document["batches"]] == [3, 4]
    assert set(document["batches"][0]) == PROGRESS_KEYS
    status, out, _ = run(capsys, control, "list")
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "NAME", "STATE", "DONE/TOTAL", "FAILED", "ETA"]
    assert lines[1].split() == ["3", "photos", "running", "120/500", "0", "7.6s"]
    assert lines[2].split() == ["4", "-", "paused", "2/10", "0", "?"]
    assert "\x1b[" not in out  # no colour when stdout is not a terminal


def test_show_pages_through_items_up_to_the_limit(
    capsys: pytest.CaptureFixture[str], control: str
) -> None:
    status, out, _ = run(capsys, control, "show", "3", "--json", "--limit", "1500")
    assert status == 0
    document = json.loads(out)
    assert set(document) == {"batch", "items", "matched", "offset"}
    assert document["matched"] == 2500
    assert len(document["items"]) == 1500
    assert document["items"][1499]["line"] == 1500
    assert document["items"][0] == {
        "index": 0,
        "line": 1,
        "op": "move",
        "path": "src/0.jpg",
        "dest": "dst/0.jpg",
        "state": "completed",
        "attempts": 1,
        "error": "",
        "result": "",
        "diagnostics": "",
    }


def test_show_failed_shows_errors_and_undecodable_names(
    capsys: pytest.CaptureFixture[str], control: str
) -> None:
    status, out, _ = run(capsys, control, "show", "3", "--failed")
    assert status == 0
    lines = out.splitlines()
    assert lines[0].startswith("batch 3 running")
    assert lines[2].split() == ["LINE", "OP", "PATH", "STATE", "ATTEMPTS", "ERROR/RESULT"]
    assert lines[3].split() == [
        "4", "move", "caf\\xe9.jpg", "→", "out/x.jpg", "failed", "3", "permission", "denied"
    ]  # fmt: skip
    status, out, _ = run(capsys, control, "show", "3", "--failed", "--json")
    [item] = json.loads(out)["items"]
    assert item["path"] == "caf\udce9.jpg"  # os.fsdecode, JSON-escaped as \udce9
    assert "\\udce9" in out


def test_show_says_where_more_items_are(capsys: pytest.CaptureFixture[str], control: str) -> None:
    status, out, _ = run(capsys, control, "show", "3", "--offset", "2490")
    assert status == 0
    assert out.splitlines()[-1] == "items 2491-2500 of 2500; see more with --offset 2500"


@pytest.mark.parametrize(
    ("action", "state"),
    [("pause", "paused"), ("resume", "running"), ("cancel", "cancelled"), ("retry", "running")],
)
def test_control_commands_print_the_new_progress(
    capsys: pytest.CaptureFixture[str], control: str, action: str, state: str
) -> None:
    status, out, _ = run(capsys, control, action, "3", "--json")
    assert status == 0
    document = json.loads(out)
    assert set(document) == PROGRESS_KEYS
    assert document["state"] == state
    status, out, _ = run(capsys, control, action, "3")
    assert out.startswith(f"batch 3 {state} 120/500 (24%) 0 failed rate ")


@pytest.mark.parametrize(
    ("final", "failed", "status"),
    [(BatchState.COMPLETED, 0, 0), (BatchState.FAILED, 1, 1), (BatchState.CANCELLED, 0, 1)],
)
def test_wait_exits_0_only_when_every_item_succeeded(
    capsys: pytest.CaptureFixture[str],
    control: str,
    publish_endpoint: str,
    *,
    final: BatchState,
    failed: int,
    status: int,
) -> None:
    script = ProgressScript(5, total=40, duration=0.3, final=final, failed=failed).start()
    with (
        FakeRouter(control, FakeBatchd(scripts={5: script})),
        FakePublisher(publish_endpoint, lambda: [script.event()]),
    ):
        assert main(["--endpoint", control, "wait", "5", "--json"]) == status
    document = json.loads(capsys.readouterr().out)
    assert (document["state"], document["failed"]) == (final.value, failed)


def test_watch_prints_plain_lines_when_stdout_is_not_a_terminal(
    capsys: pytest.CaptureFixture[str], control: str, publish_endpoint: str
) -> None:
    script = ProgressScript(3, total=500, duration=1.2, failed=4).start()
    with (
        FakeRouter(control, FakeBatchd(scripts={3: script})),
        FakePublisher(publish_endpoint, lambda: [script.event()]),
    ):
        assert main(["--endpoint", control, "watch", "3", "--interval", "0.3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    pattern = r"batch 3 (running|completed) (\d+)/500 \((\d+)%\) (\d+) failed rate [\d.]+/s eta \S+"
    assert all(re.fullmatch(pattern, line) for line in lines), lines
    assert 3 <= len(lines) <= 8  # periodic, not one line per event
    assert lines[-1].startswith("batch 3 completed 496/500 (100%) 4 failed")


def test_watch_json_is_json_lines_of_progress(
    capsys: pytest.CaptureFixture[str], control: str, publish_endpoint: str
) -> None:
    scripts = {n: ProgressScript(n, total=100, duration=0.2 * n).start() for n in (1, 2)}
    with (
        FakeRouter(control, FakeBatchd(scripts=scripts)),
        FakePublisher(publish_endpoint, lambda: [s.event() for s in scripts.values()]),
    ):
        assert main(["--json", "--endpoint", control, "watch", "1", "2"]) == 0
    documents = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert all(set(d) == PROGRESS_KEYS for d in documents)
    finals = {d["id"]: d["state"] for d in documents if d["state"] == "completed"}
    assert finals == {1: "completed", 2: "completed"}


def test_watch_without_active_batches_ends_at_once(
    capsys: pytest.CaptureFixture[str], control: str
) -> None:
    empty = FakeBatchd(replies={"list": ListReply(())})
    with FakeRouter(control, empty):
        assert main(["--endpoint", control, "watch"]) == 0
    assert capsys.readouterr().out == "no active batches\n"


def test_help_and_plain_commands_do_not_import_rich() -> None:
    code = (
        "import sys\n"
        "from batchd.client.cli import main\n"
        "assert main(['--help']) == 0\n"
        "assert main(['--endpoint', 'ipc:///nonexistent/control.sock', 'list']) == 3\n"
        "print('rich' in sys.modules)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True
    )
    assert run.stdout.splitlines()[-1] == "False"
