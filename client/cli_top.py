"""``batchctl top``: a live view of the daemon's workers and active batches.

    top [--interval S]

On a terminal the view is redrawn every ``--interval`` seconds (default 1) from ``stats`` and
``list`` until ``q`` is pressed (keys are read in cbreak mode, so no Enter is needed) or
Ctrl-C; both end with status 0. When stdout is not a terminal, one plain snapshot is printed
(``--json``: one document ``{"stats", "batches"}``) and the command exits 0.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import select
import sys
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any, Self

from batchd.client.cli_command import Command
from batchd.client.output import EXIT_OK, Output

if TYPE_CHECKING:
    from batchd.client.api import Client
    from batchd.protocol.batch_messages import BatchProgress
    from batchd.protocol.messages import StatsReply

QUIT_KEYS = frozenset("qQ")


class KeyReader:
    """Keys typed on a terminal's stdin, one at a time (cbreak mode while entered).

    When stdin is not a terminal, :meth:`wait` only sleeps: the view then ends with Ctrl-C.
    """

    def __init__(self, stdin: IO[str]) -> None:
        try:
            self._fd: int | None = stdin.fileno() if stdin.isatty() else None
        except (AttributeError, ValueError, OSError):
            self._fd = None
        self._saved: list[Any] | None = None

    def __enter__(self) -> Self:
        if self._fd is not None:
            import termios
            import tty

            self._saved = termios.tcgetattr(self._fd)
            tty.setcbreak(self._fd)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._fd is not None and self._saved is not None:
            import termios

            termios.tcsetattr(self._fd, termios.TCSADRAIN, self._saved)

    def wait(self, timeout: float) -> str:
        """The keys typed within `timeout` seconds ("" if none)."""
        if self._fd is None:
            select.select([], [], [], timeout)
            return ""
        ready, _, _ = select.select([self._fd], [], [], timeout)
        if not ready:
            return ""
        data = os.read(self._fd, 64)
        return data.decode(errors="replace") if data else "q"  # end of input: quit


def _fetch(client: Client) -> tuple[StatsReply, tuple[BatchProgress, ...]]:
    return client.stats(), client.list_batches().batches


def _top(client: Client, args: argparse.Namespace, out: Output) -> int:
    if out.json or not out.terminal:
        from batchd.client.render import json_document
        from batchd.client.top_view import snapshot_text, top_jsonable

        stats, batches = _fetch(client)
        if out.json:
            out.emit(json_document(top_jsonable(stats, batches)))
        else:
            out.emit(snapshot_text(stats, batches, out.colour))
        return EXIT_OK
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C quits like q
        _live(client, args.interval, out)
    return EXIT_OK


def _live(client: Client, interval: float, out: Output) -> None:
    """Redraw the view every `interval` seconds until a quit key."""
    from rich.console import Console
    from rich.live import Live

    from batchd.client.errors import DaemonTimeout
    from batchd.client.top_view import live_view

    console = Console(
        file=out.stdout, force_terminal=True, no_color=not out.colour, highlight=False
    )
    stats, batches = _fetch(client)
    with (
        KeyReader(sys.stdin) as keys,
        Live(live_view(stats, batches), console=console, screen=True, auto_refresh=False) as live,
    ):
        while not QUIT_KEYS & set(keys.wait(interval)):
            problem = ""
            try:
                stats, batches = _fetch(client)
            except DaemonTimeout as exc:
                problem = f"{exc.message} (showing the last answer)"
            live.update(live_view(stats, batches, problem), refresh=True)


def _interval(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0.1 <= value <= 3600:
        raise argparse.ArgumentTypeError(f"must be between 0.1 and 3600 seconds: {text!r}")
    return value


def _top_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--interval",
        metavar="S",
        type=_interval,
        default=1.0,
        help="seconds between refreshes (default 1)",
    )
    parser.epilog = "example: batchctl top --interval 2   (q or Ctrl-C quits)"


COMMANDS: dict[str, Command] = {
    "top": Command("live view of workers and active batches; q quits", _top, _top_arguments),
}
