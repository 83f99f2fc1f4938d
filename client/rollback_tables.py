"""Human output of the undo commands: rollback previews, outcomes, the history and purges.

Formatting only, no sockets. Paths travel as bytes and are shown and put in JSON through
``os.fsdecode``, as in :mod:`batchd.client.tables`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from batchd.client.render import size, timestamp, to_jsonable
from batchd.client.tables import Cell, display_path, table
from batchd.protocol.batch_messages import BatchProgress
from batchd.protocol.errors import RollbackBlocked
from batchd.protocol.rollback_messages import (
    HistoryEvent,
    PurgeReply,
    RollbackAction,
    RollbackReply,
)

EVENT_COLOURS = {"ended": "", "submitted": "cyan", "rollback": "blue", "purged": "yellow"}


def plural(count: int, word: str) -> str:
    """``1 action``, ``3 actions``."""
    return f"{count} {word}{'' if count == 1 else 's'}"


def batches_text(batches: Sequence[int]) -> str:
    """``batch 5`` or ``batches 7, 5``, in the order given."""
    ids = ", ".join(str(batch) for batch in batches)
    return f"batch {ids}" if len(batches) == 1 else f"batches {ids}"


def actions_table(actions: Sequence[RollbackAction], colour: bool) -> str:
    """The undo steps of a dry run: batch, plan line, op, path and why it is blocked."""
    rows: list[list[Cell | str]] = [
        [
            str(action.batch),
            str(action.line),
            action.op,
            display_path(action.path),
            Cell(" ".join(action.conflict.split()), "red") if action.conflict else Cell("-"),
        ]
        for action in actions
    ]
    return table(["batch", "line", "op", "path", "conflict"], rows, colour)


def dry_run_summary(reply: RollbackReply) -> str:
    """``dry run: rolling back batch 5 takes 12 actions, 1 conflict; nothing was changed``."""
    shown = len(reply.preview)
    note = f" (the first {shown} shown)" if shown < reply.actions else ""
    counts = f"{plural(reply.actions, 'action')}, {plural(reply.conflicts, 'conflict')}"
    if not reply.batches:
        return f"dry run: nothing to roll back ({counts}); nothing was changed"
    what = f"rolling back {batches_text(reply.batches)} takes"
    return f"dry run: {what} {counts}{note}; nothing was changed"


def started_line(reply: RollbackReply) -> str:
    """``rollback of batch 5 started as batch 9 (12 steps)``."""
    return (
        f"rollback of {batches_text(reply.batches)} started as batch {reply.rollback} "
        f"({plural(reply.actions, 'step')})"
    )


def already_line(batches: Sequence[int]) -> str:
    """``batch 5 is already rolled back`` (``batches 7, 5 are ...``)."""
    verb = "is" if len(batches) == 1 else "are"
    return f"{batches_text(batches)} {verb} already rolled back"


def blocked_message(error: RollbackBlocked, asked: Sequence[int]) -> str:
    """What to do when newer batches changed the paths a rollback would restore."""
    batch = error.details.get("batch")
    raw = error.details.get("blocking")
    blocking = sorted(
        {b for b in raw if isinstance(b, int)} if isinstance(raw, list | tuple) else set(),
        reverse=True,
    )
    if not isinstance(batch, int) or not blocking:
        return error.message
    together = sorted(set(blocking) | set(asked) | {batch}, reverse=True)
    command = "batchctl rollback " + " ".join(str(b) for b in together)
    newer = ", ".join(str(b) for b in blocking)
    both = "both" if len(together) == 2 else "all together"
    return (
        f"batch {batch} cannot be rolled back alone: {batches_text(blocking)} changed the same "
        f"paths since; roll back {newer} first or {both}: {command}"
    )


def rollback_jsonable(reply: RollbackReply) -> dict[str, object]:
    """A rollback reply for JSON: the preview's paths as text (``os.fsdecode``)."""
    document = to_jsonable(reply)
    assert isinstance(document, dict)
    document["preview"] = [
        {**_as_dict(to_jsonable(action)), "path": os.fsdecode(action.path)}
        for action in reply.preview
    ]
    return document


def _as_dict(value: object) -> dict[str, object]:
    assert isinstance(value, dict)
    return value


def history_table(events: Sequence[HistoryEvent], colour: bool) -> str:
    """The operation log: local time, event, batch, the state it ended in, detail."""
    rows: list[list[Cell | str]] = [
        [
            timestamp(event.time),
            Cell(event.event, EVENT_COLOURS.get(event.event, "")),
            str(event.batch),
            event.state or "-",
            " ".join(event.detail.split()) or "-",
        ]
        for event in events
    ]
    return table(["time", "event", "batch", "state", "detail"], rows, colour)


def purge_line(reply: PurgeReply) -> str:
    """``purged undo data of batches 3, 4 (12.3 MiB freed)``."""
    if not reply.purged:
        return "no undo data to purge"
    return f"purged undo data of {batches_text(reply.purged)} ({size(reply.freed_bytes)} freed)"


def rollback_notes(progress: BatchProgress) -> list[str]:
    """What ``show`` adds under a batch's progress line about rollbacks."""
    notes = []
    if progress.rollback_of:
        notes.append(f"rollback of {batches_text(progress.rollback_of)}")
    if progress.conflicts:
        notes.append(
            f"{plural(progress.conflicts, 'conflict')}: files changed since; the failed items "
            f"say why (batchctl show {progress.id} --failed)"
        )
    if progress.rolled_back:
        notes.append(f"{progress.rolled_back} of {progress.total} items rolled back")
    return notes
