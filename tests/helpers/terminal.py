"""A real terminal for screen tests: a detached tmux session on a private tmux server.

``make test`` installs tmux; in CI its absence is a failure, elsewhere a reason to skip
(``needs_tmux``). Each session runs one shell command at a fixed size, with colour allowed
(``NO_COLOR`` and an outer ``TMUX`` removed) and ``TERM=xterm-256color``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator

import pytest

needs_tmux = pytest.mark.skipif(
    shutil.which("tmux") is None and os.environ.get("CI") != "true",
    reason="needs tmux (make test installs it as root)",
)


class Terminal:
    """A detached ``width``x``height`` tmux session on its own server, running ``command``."""

    def __init__(self, command: str, width: int = 100, height: int = 20) -> None:
        self.server = f"batchd-test-{uuid.uuid4().hex[:12]}"
        env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "TMUX")}
        env["TERM"] = "xterm-256color"
        self._tmux("new-session", "-d", "-x", str(width), "-y", str(height), command, env=env)

    def screen(self) -> list[str]:
        """The visible lines of the pane, trailing blanks removed."""
        text = self._tmux("capture-pane", "-p", "-t", "0").stdout
        return [line.rstrip() for line in text.splitlines()]

    def keys(self, *keys: str) -> None:
        """Type keys into the pane."""
        self._tmux("send-keys", *keys)

    def close(self) -> None:
        """Stop this session's tmux server (only ours: it has its own socket name)."""
        self._tmux("kill-server", check=False)

    def _tmux(
        self, *args: str, env: dict[str, str] | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["tmux", "-L", self.server, *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=10,
            check=check,
        )


def terminals() -> Iterator[Callable[..., Terminal]]:
    """Body of a fixture: yields a starter of Terminals, all closed afterwards."""
    started: list[Terminal] = []

    def start(command: str, width: int = 100, height: int = 20) -> Terminal:
        started.append(Terminal(command, width, height))
        return started[-1]

    yield start
    for terminal in started:
        terminal.close()
