"""Errors of the daemon process itself (start-up, environment), as opposed to wire errors.

Wire errors — what a request can fail with — are the classes of ``batchd.protocol.errors``;
command handlers raise those and the dispatcher (``batchd.daemon.dispatch``) turns them into
error replies. The classes here stop the daemon before or while it serves:

    DaemonError                 base; ``exit_status`` is the process exit code it leads to
    ├── ConfigError             the config file is unreadable, has an unknown key or a bad value
    ├── DirectoryError          the state or runtime directory cannot be created or is unsafe
    └── AlreadyRunning          another batchd holds the lock of the same state/runtime dir
"""

from __future__ import annotations

import os
from typing import ClassVar

EX_CONFIG = 78  # sysexits.h: configuration error (systemd units use RestartPreventExitStatus=78)


class DaemonError(Exception):
    """Base of the daemon's own errors; the message is printed as is, on one line."""

    exit_status: ClassVar[int] = 1


class ConfigError(DaemonError):
    """Raised when the config file cannot be read or holds an unknown key or a bad value."""

    exit_status = EX_CONFIG


class DirectoryError(DaemonError):
    """Raised when a state or runtime directory cannot be created or has unsafe ownership."""

    exit_status = os.EX_CANTCREAT


class AlreadyRunning(DaemonError):
    """Raised when another daemon holds the lock on the same state or runtime directory."""

    exit_status = os.EX_TEMPFAIL
