"""batchctl rollback, undo, history and purge against a fake daemon (stdout not a TTY)."""

from __future__ import annotations

import dataclasses
import json
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from fake_router import FakeBatchd, FakeRouter, ProgressScript

from batchd.client.cli import main
from batchd.client.render import timestamp
from batchd.protocol.batch_messages import (
    BatchState,
    ItemInfo,
    ItemState,
    ShowReply,
    ShowRequest,
)
from batchd.protocol.errors import BatchBusy, RollbackBlocked, RollbackUnavailable
from batchd.protocol.rollback_messages import (
    HistoryEvent,
    HistoryReply,
    PurgeReply,
    RollbackAction,
    RollbackReply,
    RollbackRequest,
)

STARTED = RollbackReply(9, (5,), 3, 0, (), ())
CONFLICT = RollbackAction(5, 2, "move back", b"/d/caf\xe9.jpg", "changed since batch 5 ran")
PREVIEW = RollbackReply(
    None, (5,), 2, 1, (CONFLICT, RollbackAction(5, 1, "rmdir", b"/d/sorted", "")), ()
)
CONFLICT_ITEM = ItemInfo(
    1, 2, "move", b"/d/sorted/a.jpg", b"/d/a.jpg", ItemState.FAILED, 1, "a.jpg changed", "", ""
)


def ended(batch: int, final: BatchState, failed: int = 0) -> ProgressScript:
    """A batch of 3 items that already ended."""
    return ProgressScript(batch, 3, 0.01, final=final, failed=failed, started=time.monotonic() - 1)


def conflicts_page(message: ShowRequest) -> ShowReply:
    batch = ended(9, BatchState.FAILED, failed=1).now()
    return ShowReply(batch, (CONFLICT_ITEM,) if message.failed_only else (), 1)


def run(
    capsys: pytest.CaptureFixture[str], control: str, daemon: FakeBatchd, *argv: str
) -> tuple[int, str, str]:
    with FakeRouter(control, daemon):
        status = main(["--endpoint", control, *argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def answering(reply: object, sent: list[RollbackRequest] | None = None) -> FakeBatchd:
    def answer(message: RollbackRequest) -> object:
        if sent is not None:
            sent.append(message)
        if isinstance(reply, Exception):
            raise reply
        return reply

    return FakeBatchd(
        scripts={9: ended(9, BatchState.COMPLETED)},
        replies={"rollback": answer, "show": conflicts_page},
    )


def test_rollback_prints_the_new_batch(capsys: pytest.CaptureFixture[str], control: str) -> None:
    sent: list[RollbackRequest] = []
    status, out, err = run(capsys, control, answering(STARTED, sent), "rollback", "5")
    assert (status, out, err) == (0, "rollback of batch 5 started as batch 9 (3 steps)\n", "")
    assert sent == [RollbackRequest((5,), "", (), False, False)]


def test_rollback_options_reach_the_daemon(
    capsys: pytest.CaptureFixture[str],
    control: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    sent: list[RollbackRequest] = []
    argv = ["rollback", "7", "5", "--items", "3, 7-9", "--force"]
    argv += ["--paths", "photos/*.jpg", "--paths", "/abs/*", "--paths", "*.log"]
    status, _, _ = run(capsys, control, answering(STARTED, sent), *argv)
    assert status == 0
    here = str(tmp_path)
    paths = (f"{here}/photos/*.jpg", "/abs/*", "*.log")
    assert sent == [RollbackRequest((7, 5), "3,7-9", paths, False, True)]


def test_rollback_json_is_the_reply(capsys: pytest.CaptureFixture[str], control: str) -> None:
    status, out, err = run(capsys, control, answering(STARTED), "rollback", "5", "--json")
    assert (status, err) == (0, "")
    assert json.loads(out) == {
        "rollback": 9,
        "batches": [5],
        "actions": 3,
        "conflicts": 0,
        "preview": [],
        "already": [],
    }


def test_dry_run_shows_the_actions_and_exits_1_on_conflicts(
    capsys: pytest.CaptureFixture[str], control: str
) -> None:
    sent: list[RollbackRequest] = []
    status, out, err = run(capsys, control, answering(PREVIEW, sent), "rollback", "5", "--dry-run")
    assert (status, err) == (1, "")
    assert sent[0].dry_run
    lines = out.splitlines()
    assert lines[0].split() == ["BATCH", "LINE", "OP", "PATH", "CONFLICT"]
    assert lines[1].split()[:5] == ["5", "2", "move", "back", "/d/caf\\xe9.jpg"]
    assert lines[1].endswith("changed since batch 5 ran")
    assert lines[2].split() == ["5", "1", "rmdir", "/d/sorted", "-"]
    assert (
        lines[3] == "dry run: rolling back batch 5 takes 2 actions, 1 conflict; nothing was changed"
    )


def test_dry_run_without_conflicts_exits_0(
    capsys: pytest.CaptureFixture[str], control: str
) -> None:
    clean = dataclasses.replace(PREVIEW, conflicts=0, preview=PREVIEW.preview[1:], actions=40)
    status, out, _ = run(capsys, control, answering(clean), "undo", "--dry-run")
    assert status == 0
    assert out.splitlines()[-1] == (
        "dry run: rolling back batch 5 takes 40 actions, 0 conflicts "
        "(the first 1 shown); nothing was changed"
    )


def test_dry_run_json_decodes_paths(capsys: pytest.CaptureFixture[str], control: str) -> None:
    status, out, _ = run(
        capsys, control, answering(PREVIEW), "rollback", "5", "--dry-run", "--json"
    )
    assert status == 1
    document = json.loads(out)
    assert document["rollback"] is None
    assert document["conflicts"] == 1
    assert document["preview"][0] == {
        "batch": 5,
        "line": 2,
        "op": "move back",
        "path": "/d/caf\udce9.jpg",
        "conflict": "changed since batch 5 ran",
    }


def test_already_rolled_back(capsys: pytest.CaptureFixture[str], control: str) -> None:
    already = RollbackReply(None, (), 0, 0, (), (5,))
    status, out, err = run(capsys, control, answering(already), "rollback", "5")
    assert (status, out, err) == (0, "batch 5 is already rolled back\n", "")
    status, out, _ = run(capsys, control, answering(already), "rollback", "5", "--json", "--wait")
    assert status == 0
    assert json.loads(out)["already"] == [5]


def test_undo_with_nothing_to_undo(capsys: pytest.CaptureFixture[str], control: str) -> None:
    sent: list[RollbackRequest] = []
    nothing = RollbackReply(None, (), 0, 0, (), ())
    status, out, _ = run(capsys, control, answering(nothing, sent), "undo")
    assert (status, out) == (0, "no batch can be rolled back\n")
    assert sent == [RollbackRequest((), "", (), False, False)]


@pytest.mark.parametrize(
    ("blocking", "argv", "message"),
    [
        (
            [7],
            ["rollback", "5"],
            "batch 5 cannot be rolled back alone: batch 7 changed the same paths since; "
            "roll back 7 first or both: batchctl rollback 7 5",
        ),
        (
            [7, 8],
            ["undo"],
            "batch 5 cannot be rolled back alone: batches 8, 7 changed the same paths since; "
            "roll back 8, 7 first or all together: batchctl rollback 8 7 5",
        ),
    ],
)
def test_blocked_rollback_says_what_to_roll_back_first(
    capsys: pytest.CaptureFixture[str],
    control: str,
    blocking: list[int],
    argv: list[str],
    message: str,
) -> None:
    blocked = RollbackBlocked("newer batches changed", {"batch": 5, "blocking": blocking})
    status, out, err = run(capsys, control, answering(blocked), *argv, "--json")
    assert (status, out, err) == (1, "", f"batchctl: {message}\n")


def test_unavailable_rollback_shows_the_daemons_message(
    capsys: pytest.CaptureFixture[str], control: str
) -> None:
    unavailable = RollbackUnavailable(
        "batch 5 has no undo data: it was purged at 2026-01-01T00:00:00+00:00",
        {"batch": 5, "purged_at": 1767225600.0},
    )
    status, out, err = run(capsys, control, answering(unavailable), "rollback", "5")
    assert (status, out) == (1, "")
    assert err == f"batchctl: {unavailable.message}\n"


def test_wait_follows_the_rollback_and_lists_conflicts(
    capsys: pytest.CaptureFixture[str], control: str
) -> None:
    daemon = answering(STARTED)
    daemon.scripts[9] = ended(9, BatchState.FAILED, failed=1)
    status, out, err = run(capsys, control, daemon, "rollback", "5", "--wait")
    assert (status, err) == (1, "")
    lines = out.splitlines()
    assert lines[0] == "rollback of batch 5 started as batch 9 (3 steps)"
    assert lines[1].startswith("batch 9 failed 2/3 (100%) 1 failed")
    assert lines[3] == "1 conflict, left as they are:"
    assert lines[4].split() == ["LINE", "OP", "PATH", "STATE", "ATTEMPTS", "ERROR/RESULT"]
    assert "a.jpg changed" in lines[5]


def test_wait_exits_0_when_the_rollback_completed(
    capsys: pytest.CaptureFixture[str], control: str
) -> None:
    status, out, _ = run(capsys, control, answering(STARTED), "undo", "--wait")
    assert status == 0
    assert out.splitlines()[-1].startswith("batch 9 completed 3/3 (100%) 0 failed")


def test_wait_json_is_one_document_with_the_outcome(
    capsys: pytest.CaptureFixture[str], control: str
) -> None:
    daemon = answering(STARTED)
    daemon.scripts[9] = ended(9, BatchState.FAILED, failed=1)
    status, out, _ = run(capsys, control, daemon, "rollback", "5", "--wait", "--json")
    assert status == 1
    document = json.loads(out)
    assert document["rollback"] == 9
    assert document["final"]["state"] == "failed"
    assert [item["path"] for item in document["failed_items"]] == ["/d/sorted/a.jpg"]


def test_a_busy_batch_is_waited_for(capsys: pytest.CaptureFixture[str], control: str) -> None:
    asked: list[RollbackRequest] = []

    def answer(message: RollbackRequest) -> RollbackReply:
        asked.append(message)
        if len(asked) == 1:
            raise BatchBusy("batch 5 is running; cancelling it first", {"batch": 5})
        return STARTED

    daemon = FakeBatchd(scripts={5: ended(5, BatchState.CANCELLED)}, replies={"rollback": answer})
    status, out, _ = run(capsys, control, daemon, "rollback", "5")
    assert (status, out) == (0, "rollback of batch 5 started as batch 9 (3 steps)\n")
    assert len(asked) == 2


@pytest.mark.parametrize(
    ("argv", "complaint"),
    [
        (["rollback", "5", "--items", "7-3"], "runs backwards; write 3-7"),
        (["rollback", "5", "--items", "0"], "plan lines start at 1"),
        (["rollback", "5", "--items", "3,,4"], "is not a plan line"),
        (["rollback", "5", "--items", "x"], "is not a plan line"),
        (["rollback", "5", "--items", ""], "is not a plan line"),
        (["rollback", "5", "--paths", ""], "the pattern is empty"),
        (["rollback"], "required"),
        (["undo", "5"], "unrecognized arguments"),
        (["history", "--limit", "0"], "must be at least 1"),
        (["purge"], "name the batches"),
        (["purge", "3", "--older-than", "2"], "not both"),
        (["purge", "--older-than", "-1"], "must be 0 or more days"),
    ],
)
def test_usage_errors_exit_2_without_a_daemon(
    capsys: pytest.CaptureFixture[str], argv: list[str], complaint: str
) -> None:
    status = main(["--runtime-dir", "/nonexistent", *argv])
    assert status == 2
    assert complaint in capsys.readouterr().err


def history_daemon(events: tuple[HistoryEvent, ...]) -> FakeBatchd:
    return FakeBatchd(replies={"history": HistoryReply(events)})


def test_history_table_and_json(capsys: pytest.CaptureFixture[str], control: str) -> None:
    events = (
        HistoryEvent(1767225600.0, "submitted", 5, "", "photos"),
        HistoryEvent(1767225660.0, "ended", 5, "completed", "photos"),
        HistoryEvent(1767225720.0, "rollback", 9, "", "undoes 5"),
    )
    status, out, _ = run(capsys, control, history_daemon(events), "history")
    assert status == 0
    lines = out.splitlines()
    assert lines[0].split() == ["TIME", "EVENT", "BATCH", "STATE", "DETAIL"]
    assert lines[1].split() == [timestamp(1767225600.0), "submitted", "5", "-", "photos"]
    assert lines[2].split() == [timestamp(1767225660.0), "ended", "5", "completed", "photos"]
    assert lines[3].split()[1:] == ["rollback", "9", "-", "undoes", "5"]
    status, out, _ = run(capsys, control, history_daemon(events), "history", "--json")
    assert json.loads(out)["events"][1] == {
        "time": 1767225660.0,
        "event": "ended",
        "batch": 5,
        "state": "completed",
        "detail": "photos",
    }


def test_empty_history(capsys: pytest.CaptureFixture[str], control: str) -> None:
    assert run(capsys, control, history_daemon(()), "history")[:2] == (0, "no events\n")
    status, out, _ = run(capsys, control, history_daemon(()), "history", "--batch", "4")
    assert (status, out) == (0, "no events of batch 4\n")


@pytest.mark.parametrize(
    ("reply", "line"),
    [
        (PurgeReply((3, 4), 12_897_485), "purged undo data of batches 3, 4 (12.3 MiB freed)"),
        (PurgeReply((3,), 100), "purged undo data of batch 3 (100 B freed)"),
        (PurgeReply((), 0), "no undo data to purge"),
    ],
)
def test_purge_says_what_it_freed(
    capsys: pytest.CaptureFixture[str], control: str, reply: PurgeReply, line: str
) -> None:
    status, out, _ = run(capsys, control, FakeBatchd(replies={"purge": reply}), "purge", "3", "4")
    assert (status, out) == (0, line + "\n")


def test_purge_json(capsys: pytest.CaptureFixture[str], control: str) -> None:
    daemon = FakeBatchd(replies={"purge": PurgeReply((3,), 100)})
    status, out, _ = run(capsys, control, daemon, "purge", "--older-than", "30", "--json")
    assert (status, json.loads(out)) == (0, {"purged": [3], "freed_bytes": 100})


def rollback_batch() -> Callable[[object], object]:
    progress = dataclasses.replace(
        ended(9, BatchState.FAILED, failed=1).now(), rollback_of=(5,), conflicts=1
    )
    return lambda message: ShowReply(progress, (), 0)


def test_show_notes_what_a_batch_rolls_back(
    capsys: pytest.CaptureFixture[str], control: str
) -> None:
    daemon = FakeBatchd(replies={"show": rollback_batch()})
    status, out, _ = run(capsys, control, daemon, "show", "9")
    assert status == 0
    lines = out.splitlines()
    assert lines[1] == "rollback of batch 5"
    assert re.match(r"1 conflict: .*batchctl show 9 --failed\)$", lines[2])
