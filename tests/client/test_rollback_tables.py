"""Formatting of the undo commands (pure), and rollback fields in list and progress output."""

from __future__ import annotations

import dataclasses

from fake_router import progress_of

from batchd.client.render import aligned
from batchd.client.rollback_tables import (
    actions_table,
    already_line,
    blocked_message,
    dry_run_summary,
    rollback_notes,
    started_line,
)
from batchd.client.tables import batches_table, progress_rows
from batchd.protocol.batch_messages import BatchState
from batchd.protocol.errors import RollbackBlocked
from batchd.protocol.rollback_messages import RollbackAction, RollbackReply

ROLLBACK = dataclasses.replace(
    progress_of(9, BatchState.FAILED, 3, 2, 1), rollback_of=(7, 5), conflicts=1
)
UNDONE = dataclasses.replace(progress_of(5, BatchState.ROLLED_BACK, 3, 3), rolled_back=3)


def test_several_batches_are_named_together() -> None:
    reply = RollbackReply(9, (7, 5), 1, 0, (), ())
    assert started_line(reply) == "rollback of batches 7, 5 started as batch 9 (1 step)"
    assert already_line([7, 5]) == "batches 7, 5 are already rolled back"


def test_a_blocked_message_without_usable_details_is_the_daemons() -> None:
    error = RollbackBlocked("newer batches changed the paths", {"batch": 5})
    assert blocked_message(error, [5]) == "newer batches changed the paths"


def test_a_blocked_rollback_of_several_batches_suggests_them_all() -> None:
    error = RollbackBlocked("x", {"batch": 5, "blocking": [7]})
    assert blocked_message(error, [5, 3]).endswith(
        "roll back 7 first or all together: batchctl rollback 7 5 3"
    )


def test_conflicts_are_red_and_others_a_dash() -> None:
    actions = [
        RollbackAction(5, 1, "remove", b"/d/new", "changed since\nthe batch"),
        RollbackAction(5, 2, "restore", b"/d/old", ""),
    ]
    plain = actions_table(actions, colour=False).splitlines()
    assert plain[1].endswith("changed since the batch")
    assert plain[2].endswith("-")
    assert "\x1b[31m" in actions_table(actions, colour=True)


def test_a_dry_run_with_nothing_to_roll_back() -> None:
    reply = RollbackReply(None, (), 0, 0, (), ())
    assert dry_run_summary(reply) == (
        "dry run: nothing to roll back (0 actions, 0 conflicts); nothing was changed"
    )


def test_list_names_a_nameless_rollback_batch_after_what_it_undoes() -> None:
    named = dataclasses.replace(ROLLBACK, id=10, name="undo photos")
    lines = batches_table([ROLLBACK, named], colour=False).splitlines()
    assert lines[1].split()[:4] == ["9", "rollback", "of", "7,"]
    assert lines[2].split()[:3] == ["10", "undo", "photos"]


def test_progress_rows_and_show_notes_tell_about_rollbacks() -> None:
    text = aligned(progress_rows(ROLLBACK))
    assert "rollback of: 7, 5" in " ".join(text.split())
    assert "conflicts: 1" in " ".join(text.split())
    assert rollback_notes(ROLLBACK)[0] == "rollback of batches 7, 5"
    assert rollback_notes(UNDONE) == ["3 of 3 items rolled back"]
    assert "rolled back: 3 of 3" in " ".join(aligned(progress_rows(UNDONE)).split())
    plain = progress_of(4, BatchState.COMPLETED, 3, 3)
    assert rollback_notes(plain) == []
    assert not any(key in ("rollback of", "conflicts") for key, _ in progress_rows(plain))
