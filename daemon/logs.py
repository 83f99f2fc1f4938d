"""Logging set-up: one line per event on stderr (journald support arrives with the units)."""

from __future__ import annotations

import logging
import sys


def configure_logging(level: str) -> None:
    """Send the daemon's log records to stderr at ``level``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("%(asctime)s batchd[%(process)d] %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
