"""Logging set-up: journald with structured fields under systemd, else one line per event on
stderr.

Under systemd the records go through systemd-python's ``JournalHandler``, so the ``extra``
fields the daemon attaches (``BATCH_ID``, ``ITEM``, ``OP``, ``PATH``) become journal fields:
``journalctl BATCH_ID=3`` tells one batch's story.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Final

JOURNAL_SOCKET: Final = Path("/run/systemd/journal/socket")
SYSLOG_IDENTIFIER: Final = "batchd"


def stderr_is_journal(env: Mapping[str, str], stderr_fd: int) -> bool:
    """Whether systemd connected stderr to the journal (``JOURNAL_STREAM`` names its dev:ino).

    ``INVOCATION_ID`` alone is not enough: every process a service starts inherits it (a CI
    runner's test daemons too), and a unit may send stderr to a file or a terminal.
    """
    stream = env.get("JOURNAL_STREAM", "")
    device, _, inode = stream.partition(":")
    try:
        info = os.fstat(stderr_fd)
        return (info.st_dev, info.st_ino) == (int(device), int(inode))
    except (OSError, ValueError):
        return False


def _journal_handler() -> logging.Handler | None:
    if not JOURNAL_SOCKET.exists():
        return None
    try:
        from systemd.journal import JournalHandler
    except ImportError:
        return None
    handler: logging.Handler = JournalHandler(SYSLOG_IDENTIFIER=SYSLOG_IDENTIFIER)
    return handler


def configure_logging(level: str, env: Mapping[str, str] | None = None) -> None:
    """Send the daemon's log records to journald (under systemd) or stderr, at ``level``."""
    env = os.environ if env is None else env
    handler = _journal_handler() if stderr_is_journal(env, sys.stderr.fileno()) else None
    if handler is None:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(
            logging.Formatter("%(asctime)s batchd[%(process)d] %(levelname)s %(name)s: %(message)s")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
