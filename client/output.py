"""Where batchctl's output goes: stdout for results, stderr for messages, and the exit codes.

Decides once whether stdout is a terminal and whether colour is allowed (a terminal and no
``NO_COLOR``), so the commands only say what to print. A reader that goes away
(``batchctl list | head -1``) is handled here, not in every command.
"""

from __future__ import annotations

import os
import sys
from typing import TextIO

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_INTERRUPTED = 130


class OutputClosed(Exception):
    """Raised when stdout's reader went away; the command stops with exit status 1."""


class Output:
    """batchctl's two streams, its ``--json`` mode and whether they are terminals."""

    def __init__(
        self,
        json: bool,
        stdout: TextIO | None = None,
        stderr: TextIO | None = None,
        environ: dict[str, str] | None = None,
    ) -> None:
        self.json = json
        self.stdout = stdout if stdout is not None else sys.stdout
        self.stderr = stderr if stderr is not None else sys.stderr
        env = os.environ if environ is None else environ
        no_color = bool(env.get("NO_COLOR"))
        self.terminal = _isatty(self.stdout)
        """Whether stdout is a terminal: live bars and colour instead of plain lines."""
        self.colour = self.terminal and not no_color
        self.stderr_terminal = _isatty(self.stderr)
        self.stderr_colour = self.stderr_terminal and not no_color

    def emit(self, text: str) -> None:
        """Print a result on stdout (a line is added) and flush it."""
        try:
            self.stdout.write(text + "\n")
            self.stdout.flush()
        except BrokenPipeError:
            # Silence the flush at interpreter exit too.
            os.dup2(os.open(os.devnull, os.O_WRONLY), self.stdout.fileno())
            raise OutputClosed from None

    def note(self, text: str) -> None:
        """Print a message on stderr."""
        print(text, file=self.stderr, flush=True)

    def fail(self, message: str) -> None:
        """Print an error as one line ``batchctl: ...`` on stderr."""
        self.note(f"batchctl: {' '.join(message.split())}")


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
