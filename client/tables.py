"""Human output of the batch commands: progress lines, tables of batches, items and steps,
plan problems, and the JSON shapes that carry file names.

Formatting only, no sockets. File names are bytes on the wire; people and JSON see them
through ``os.fsdecode`` (bytes that are not UTF-8 become ``\\udcXX`` escapes in JSON). Colour
is applied after padding, so ANSI codes never break column alignment.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import NamedTuple

from batchd.client.render import Rows, duration, timestamp, to_jsonable
from batchd.protocol.batch_messages import (
    TERMINAL_STATES,
    BatchProgress,
    BatchState,
    ItemInfo,
    ItemState,
    PlannedStep,
    ShowReply,
    UploadStatusReply,
)

_ANSI = {"red": "31", "green": "32", "yellow": "33", "blue": "34", "cyan": "36", "dim": "2"}

STATE_COLOURS = {
    BatchState.RUNNING.value: "cyan",
    BatchState.PAUSED.value: "yellow",
    BatchState.INTERRUPTED.value: "yellow",
    BatchState.COMPLETED.value: "green",
    BatchState.FAILED.value: "red",
    BatchState.CANCELLED.value: "yellow",
    BatchState.ROLLING_BACK.value: "blue",
    BatchState.ROLLED_BACK.value: "blue",
    BatchState.PARTIALLY_ROLLED_BACK.value: "red",
    ItemState.RETRY_WAIT.value: "yellow",
    ItemState.SKIPPED.value: "dim",
}


class Cell(NamedTuple):
    """A table cell and the colour it gets on a terminal ("" for none)."""

    text: str
    colour: str = ""


def paint(text: str, colour: str, enabled: bool) -> str:
    """`text` in an ANSI colour when `enabled` and a colour is named."""
    if not enabled or colour not in _ANSI:
        return text
    return f"\x1b[{_ANSI[colour]}m{text}\x1b[0m"


def state_cell(state: BatchState | ItemState) -> Cell:
    """A state in its colour."""
    return Cell(state.value, STATE_COLOURS.get(state.value, ""))


def failed_cell(count: int) -> Cell:
    """A failure count, red when not zero."""
    return Cell(str(count), "red" if count else "")


def table(headers: Sequence[str], rows: Sequence[Sequence[Cell | str]], colour: bool) -> str:
    """Left-aligned columns under upper-case headers; the last column is not padded."""
    cells = [[cell if isinstance(cell, Cell) else Cell(cell) for cell in row] for row in rows]
    widths = [len(header) for header in headers]
    for row in cells:
        for column, cell in enumerate(row):
            widths[column] = max(widths[column], len(cell.text))
    last = len(headers) - 1
    lines = [
        "  ".join(
            h.upper().ljust(widths[i]) if i < last else h.upper() for i, h in enumerate(headers)
        ).rstrip()
    ]
    for row in cells:
        parts = []
        for column, cell in enumerate(row):
            text = cell.text if column == last else cell.text.ljust(widths[column])
            parts.append(paint(text, cell.colour, colour))
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)


def short_duration(seconds: float | None) -> str:
    """``7.6s``, ``3m05s``, ``2h03m``, ``4d02h``; ``?`` while unknown."""
    if seconds is None or not math.isfinite(seconds):
        return "?"
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.1f}s"
    whole = int(seconds)
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    if whole < 86400:
        return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
    return f"{whole // 86400}d{whole % 86400 // 3600:02d}h"


def percent(progress: BatchProgress) -> int:
    """Whole percent done, rounded down so 100 % means everything ended."""
    return math.floor(max(0.0, min(1.0, progress.progress)) * 100)


def progress_line(progress: BatchProgress, colour: bool = False) -> str:
    """``batch 3 running 120/500 (24%) 0 failed rate 50.1/s eta 7.6s``."""
    state = state_cell(progress.state)
    failed = failed_cell(progress.failed)
    return (
        f"batch {progress.id} {paint(state.text, state.colour, colour)} "
        f"{progress.completed}/{progress.total} ({percent(progress)}%) "
        f"{paint(failed.text + ' failed', failed.colour, colour)} "
        f"rate {progress.rate:.1f}/s eta {short_duration(progress.eta)}"
    )


def progress_rows(progress: BatchProgress) -> Rows:
    """The rows of ``batchctl progress``."""
    rows: Rows = [
        ("batch", str(progress.id)),
        ("name", progress.name or "-"),
        ("state", progress.state.value),
        ("progress", f"{progress.progress * 100:.1f} %"),
        ("completed", f"{progress.completed} of {progress.total}"),
        ("failed", str(progress.failed)),
        ("running", str(progress.running)),
        ("pending", str(progress.pending)),
        ("retried", str(progress.retried)),
        ("rate", f"{progress.rate:.1f} items/s"),
        ("elapsed", duration(progress.elapsed)),
        ("eta", "unknown" if progress.eta is None else duration(progress.eta)),
        ("priority", str(progress.priority)),
        ("submitted", timestamp(progress.submitted_at)),
    ]
    if progress.finished_at is not None:
        rows.append(("finished", timestamp(progress.finished_at)))
    if progress.rollback_of:
        rows.append(("rollback of", ", ".join(str(b) for b in progress.rollback_of)))
    if progress.conflicts:
        rows.append(("conflicts", str(progress.conflicts)))
    if progress.rolled_back:
        rows.append(("rolled back", f"{progress.rolled_back} of {progress.total}"))
    return rows


def batches_table(batches: Sequence[BatchProgress], colour: bool) -> str:
    """The table of ``batchctl list``."""
    rows: list[list[Cell | str]] = [
        [
            str(b.id),
            b.name or _rollback_name(b),
            state_cell(b.state),
            f"{b.completed}/{b.total}",
            failed_cell(b.failed),
            "-" if b.state in TERMINAL_STATES else short_duration(b.eta),
        ]
        for b in batches
    ]
    return table(["id", "name", "state", "done/total", "failed", "eta"], rows, colour)


def _rollback_name(progress: BatchProgress) -> str:
    """What ``list`` shows for a batch without a name: what it rolls back, else ``-``."""
    if not progress.rollback_of:
        return "-"
    return "rollback of " + ", ".join(str(b) for b in progress.rollback_of)


def display_path(path: bytes, dest: bytes | None = None) -> str:
    """``path`` or ``path → dest`` for people; undecodable bytes shown as escapes."""
    text = _printable(os.fsdecode(path))
    return text if dest is None else f"{text} → {_printable(os.fsdecode(dest))}"


def _printable(name: str) -> str:
    if name.isprintable():
        return name
    # A byte that is not UTF-8 (a surrogate escape) or a control character would garble
    # the terminal: show it as ``\xNN``.
    return "".join(
        char
        if char.isprintable()
        else f"\\x{ord(char) - 0xDC00:02x}"
        if 0xDC80 <= ord(char) <= 0xDCFF
        else char.encode("unicode_escape").decode("ascii")
        for char in name
    )


def items_table(items: Sequence[ItemInfo], colour: bool) -> str:
    """The items of ``batchctl show``: line, op, path → dest, state, attempts, error/result."""
    rows: list[list[Cell | str]] = [
        [
            str(item.line),
            item.op,
            display_path(item.path, item.dest),
            state_cell(item.state),
            str(item.attempts),
            Cell(item.error, "red") if item.error else Cell(item.result),
        ]
        for item in items
    ]
    headers = ["line", "op", "path", "state", "attempts", "error/result"]
    return table(headers, rows, colour)


def steps_table(steps: Sequence[PlannedStep], colour: bool) -> str:
    """The validated steps of a dry run, in the order they may run."""
    rows = [[str(s.line), s.op, display_path(s.path, s.dest), str(s.level)] for s in steps]
    return table(["line", "op", "path", "level"], rows, colour)


def problem_lines(reply: UploadStatusReply) -> list[str]:
    """``line N: message`` for every problem the reply carries, and how many it left out."""
    lines = [f"line {p.line}: {' '.join(p.message.split())}" for p in reply.problems]
    left_out = reply.problem_count - len(reply.problems)
    if left_out > 0:
        lines.append(f"... and {left_out} more problem{'s' if left_out != 1 else ''}")
    return lines


def _path_text(path: bytes | None) -> str | None:
    return None if path is None else os.fsdecode(path)


def item_jsonable(item: ItemInfo) -> dict[str, object]:
    """An item for JSON: paths as text (``os.fsdecode``), states as their values."""
    document = to_jsonable(item)
    assert isinstance(document, dict)
    document["path"], document["dest"] = _path_text(item.path), _path_text(item.dest)
    return document


def step_jsonable(step: PlannedStep) -> dict[str, object]:
    """A validated step for JSON: paths as text."""
    document = to_jsonable(step)
    assert isinstance(document, dict)
    document["path"], document["dest"] = _path_text(step.path), _path_text(step.dest)
    return document


def show_jsonable(reply: ShowReply, offset: int) -> dict[str, object]:
    """``batchctl show --json``: the batch, the page of items, how many matched."""
    return {
        "batch": to_jsonable(reply.batch),
        "items": [item_jsonable(item) for item in reply.items],
        "matched": reply.matched,
        "offset": offset,
    }


def invalid_jsonable(reply: UploadStatusReply) -> dict[str, object]:
    """A rejected plan for JSON: state, problem_count and the problems by line."""
    return {
        "state": reply.state.value,
        "problem_count": reply.problem_count,
        "problems": [{"line": p.line, "message": p.message} for p in reply.problems],
    }


def checked_jsonable(reply: UploadStatusReply) -> dict[str, object]:
    """A dry run for JSON: the problems (if any) and the validated steps."""
    document = invalid_jsonable(reply)
    document["total"] = reply.total
    document["preview"] = [step_jsonable(step) for step in reply.preview]
    return document
