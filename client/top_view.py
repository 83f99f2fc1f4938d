"""What ``batchctl top`` shows: the daemon line, the workers table and the active batches.

Formatting only, no sockets. :func:`snapshot_text` is the plain form (stdout not a terminal),
:func:`live_view` the rich form redrawn once a second, :func:`top_jsonable` the ``--json``
document. rich is imported only by :func:`live_view`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from batchd.client.render import duration, size, to_jsonable
from batchd.client.tables import (
    STATE_COLOURS,
    Cell,
    batches_table,
    percent,
    short_duration,
    table,
)
from batchd.protocol.batch_messages import BatchProgress
from batchd.protocol.messages import StatsReply, WorkerStats

if TYPE_CHECKING:
    from rich.console import RenderableType

WORKER_HEADERS = ("pid", "state", "batch", "item", "cpu %", "rss")
_WORKER_COLOURS = {"busy": "cyan", "idle": "dim", "starting": "yellow", "stopping": "yellow"}


def daemon_line(stats: StatsReply) -> str:
    """``batchd pid 4242, up 1h 02m 05s, rss 45.2 MiB, cpu 1.5 %, 3/8 workers, cpu cap 50 %``."""
    limits = stats.limits
    busy = sum(1 for worker in stats.workers if worker.batch is not None)
    cap = f", cpu cap {limits.cpu_limit_percent} %" if limits.cpu_limit_percent < 100 else ""
    return (
        f"batchd pid {stats.pid}, up {duration(stats.uptime)}, rss {size(stats.rss)}, "
        f"cpu {stats.cpu_percent:.1f} %, {busy}/{limits.max_workers} workers busy{cap}"
    )


def worker_cells(worker: WorkerStats) -> list[Cell | str]:
    """One row of the workers table."""
    return [
        str(worker.pid),
        Cell(worker.state, _WORKER_COLOURS.get(worker.state, "")),
        "-" if worker.batch is None else str(worker.batch),
        "-" if worker.item is None else str(worker.item),
        f"{worker.cpu_percent:.1f}",
        size(worker.rss),
    ]


def snapshot_text(stats: StatsReply, batches: Sequence[BatchProgress], colour: bool) -> str:
    """The plain snapshot: the daemon line, the workers, the active batches."""
    lines = [daemon_line(stats), ""]
    if stats.workers:
        rows = [worker_cells(worker) for worker in stats.workers]
        lines.append(table(WORKER_HEADERS, rows, colour))
    else:
        lines.append("no workers running")
    lines.append("")
    lines.append(batches_table(batches, colour) if batches else "no active batches")
    return "\n".join(lines)


def top_jsonable(stats: StatsReply, batches: Sequence[BatchProgress]) -> dict[str, object]:
    """``top --json``: the StatsReply and the active batches, as one document."""
    return {"stats": to_jsonable(stats), "batches": [to_jsonable(b) for b in batches]}


def live_view(
    stats: StatsReply | None, batches: Sequence[BatchProgress], problem: str = ""
) -> RenderableType:
    """The rich screen: daemon line, workers table, one bar per active batch, key help."""
    from rich.console import Group
    from rich.markup import escape
    from rich.progress_bar import ProgressBar
    from rich.table import Table
    from rich.text import Text

    parts: list[RenderableType] = []
    if stats is not None:
        parts.append(Text(daemon_line(stats), style="bold"))
    if problem:
        parts.append(Text(problem, style="red"))
    workers = Table(title="workers", title_justify="left", expand=False)
    for header in WORKER_HEADERS:
        right = header in ("cpu %", "rss")
        workers.add_column(header.upper(), justify="right" if right else "left")
    for worker in stats.workers if stats is not None else ():
        cells = worker_cells(worker)
        workers.add_row(*(_rich_cell(cell) for cell in cells))
    parts.append(workers)
    bars = Table(title="active batches", title_justify="left", expand=True)
    for header in ("ID", "NAME", "STATE", "PROGRESS", "DONE/TOTAL", "FAILED", "RATE", "ETA"):
        bars.add_column(header, ratio=1 if header == "PROGRESS" else None, no_wrap=True)
    for batch in batches:
        colour = STATE_COLOURS.get(batch.state.value, "")
        bars.add_row(
            str(batch.id),
            escape(batch.name or "-"),
            f"[{colour}]{batch.state.value}[/]" if colour else batch.state.value,
            ProgressBar(total=max(batch.total, 1), completed=batch.completed + batch.failed),
            f"{batch.completed}/{batch.total} ({percent(batch)}%)",
            f"[red]{batch.failed}[/]" if batch.failed else "0",
            f"{batch.rate:.1f}/s",
            short_duration(batch.eta),
        )
    parts.append(bars if batches else Text("no active batches"))
    parts.append(Text("q quits", style="dim"))
    return Group(*parts)


def _rich_cell(cell: Cell | str) -> str:
    from rich.markup import escape

    if isinstance(cell, str):
        return escape(cell)
    return f"[{cell.colour}]{escape(cell.text)}[/]" if cell.colour else escape(cell.text)
