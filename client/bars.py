"""Live progress displays for ``batchctl watch`` and ``--watch``: one per output kind.

- :class:`RichBars` — on a terminal: one bar per batch (done/total, rate, ETA, failures in
  red), redrawn in place by ``rich``, imported only when a bar is shown;
- :class:`PlainLines` — stdout is a file or pipe: a line when a batch changes state and at
  most one per interval while it runs, and always its final line;
- :class:`JsonLines` — ``--json``: one compact BatchProgress document per update;
- :class:`UploadMeter` — the progress of a long plan upload, on a terminal's stderr.

Each is a context manager whose ``update`` takes every BatchProgress the watch yields.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, Self

from batchd.client.output import Output
from batchd.client.render import json_line, size
from batchd.client.tables import percent, progress_line, short_duration
from batchd.protocol.batch_messages import BatchProgress, has_ended

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

DEFAULT_LINE_INTERVAL = 2.0


class Display(Protocol):
    """Something that shows progress updates until it is closed."""

    def __enter__(self) -> Display: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def update(self, progress: BatchProgress) -> None:
        """Show one update."""


def display_for(out: Output, line_interval: float = DEFAULT_LINE_INTERVAL) -> Display:
    """JSON Lines with ``--json``, bars on a terminal, plain lines otherwise."""
    if out.json:
        return JsonLines(out)
    if out.terminal:
        return RichBars(out)
    return PlainLines(out, line_interval)


class _Closing:
    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None


class JsonLines(_Closing):
    """One JSON document per line and update."""

    def __init__(self, out: Output) -> None:
        self._out = out

    def update(self, progress: BatchProgress) -> None:
        """Print the update as one line of JSON."""
        self._out.emit(json_line(progress))


class PlainLines(_Closing):
    """``batch 3 running 120/500 (24%) 0 failed rate 50.1/s eta 7.6s`` lines, not too often."""

    def __init__(
        self, out: Output, interval: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._out = out
        self._interval = interval
        self._clock = clock
        self._printed: dict[int, tuple[float, BatchProgress]] = {}

    def update(self, progress: BatchProgress) -> None:
        """Print a line on a state change, else at most once per interval per batch."""
        now = self._clock()
        last = self._printed.get(progress.id)
        if last is not None:
            when, previous = last
            if has_ended(previous):
                return
            changed = previous.state != progress.state
            if not changed and now - when < self._interval:
                return
        self._printed[progress.id] = (now, progress)
        self._out.emit(progress_line(progress, self._out.colour))


class RichBars(_Closing):
    """One rich progress bar per batch, redrawn in place."""

    def __init__(self, out: Output) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn

        console = Console(
            file=out.stdout, force_terminal=True, no_color=not out.colour, highlight=False
        )
        self._progress: Progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(bar_width=None),
            TextColumn("{task.fields[stats]}"),
            console=console,
            refresh_per_second=8,
            expand=True,
        )
        self._tasks: dict[int, TaskID] = {}

    def __enter__(self) -> Self:
        self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._progress.stop()

    def update(self, progress: BatchProgress) -> None:
        """Move the batch's bar (adding it on its first update)."""
        fields: dict[str, Any] = {
            "description": _description(progress),
            "total": max(progress.total, 1),
            "completed": progress.completed + progress.failed if progress.total else 1,
            "stats": _stats(progress),
        }
        task = self._tasks.get(progress.id)
        if task is None:
            self._tasks[progress.id] = self._progress.add_task(**fields)
        else:
            self._progress.update(task, **fields)
        self._progress.refresh()


def _description(progress: BatchProgress) -> str:
    from rich.markup import escape

    name = f" {escape(progress.name)}" if progress.name else ""
    colour = {"completed": "green", "failed": "red", "cancelled": "yellow"}.get(
        progress.state.value, "cyan"
    )
    return f"batch {progress.id}{name} [{colour}]{progress.state.value}[/]"


def _stats(progress: BatchProgress) -> str:
    failed = f"[red]{progress.failed} failed[/]" if progress.failed else "0 failed"
    if has_ended(progress):
        timing = f"in {short_duration(progress.elapsed)}"
    else:
        timing = f"{progress.rate:.1f}/s eta {short_duration(progress.eta)}"
    return f"{progress.completed}/{progress.total} ({percent(progress)}%) {failed} {timing}"


UPLOAD_METER_DELAY = 0.5
"""Seconds an upload runs before its progress is shown (on a terminal's stderr)."""


class UploadMeter:
    """``uploading plan: 12.0 MiB of 80.0 MiB (15%)`` on stderr, redrawn in place, once
    the upload has taken a moment; nothing when stderr is not a terminal."""

    def __init__(self, out: Output, clock: Callable[[], float] = time.monotonic) -> None:
        self._out = out
        self._clock = clock
        self._start = clock()
        self._shown = False

    def __call__(self, sent: int, total: int) -> None:
        if not self._out.stderr_terminal or self._clock() - self._start < UPLOAD_METER_DELAY:
            return
        if sent == total:
            text = f"validating plan ({size(total)})..."
        elif total >= 0:
            text = f"uploading plan: {size(sent)} of {size(total)} ({sent * 100 // total}%)"
        else:
            text = f"uploading plan: {size(sent)}"
        self._out.stderr.write(f"\r\x1b[K{text}")
        self._out.stderr.flush()
        self._shown = True

    def clear(self) -> None:
        """Erase the meter's line, if it was drawn."""
        if self._shown:
            self._out.stderr.write("\r\x1b[K")
            self._out.stderr.flush()
            self._shown = False
