"""Putting the allowed roots in force at start: check them, and hand them to the children.

The roots (config ``allowed_roots``, ``--allowed-root``) must be existing directories; they
are canonicalized (symlinks resolved once, here, by the administrator's choice) and handed to
every worker and validator through the environment (:mod:`batchd.daemon.ops.roots`). Without
roots batchd may change any file its user can, and says so in the log at every start.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from batchd.daemon.config import Config
from batchd.daemon.errors import ConfigError
from batchd.daemon.ops.command_policy import export_commands
from batchd.daemon.ops.roots import ENVIRONMENT, PathGuard

log = logging.getLogger(__name__)


def put_commands_in_force(config: Config) -> None:
    """Hand the transform command allow-list (if any) to the validators."""
    export_commands(config.transform_commands)
    if config.transform_commands is not None:
        log.info("transform commands allowed: %s", ", ".join(config.transform_commands) or "none")


def put_roots_in_force(config: Config, state_dir: Path) -> PathGuard | None:
    """Check the configured roots and export them for child processes; returns the guard
    (None: no restriction). Raises ConfigError for a root that is not a directory."""
    if config.allowed_roots is None:
        os.environ.pop(ENVIRONMENT, None)
        log.warning(
            "no allowed_roots configured: plans may change any file batchd's user can "
            "(set allowed_roots in the config file; docs/security.md)"
        )
        return None
    roots = []
    for root in config.allowed_roots:
        real = os.path.realpath(root)
        if not os.path.isdir(real):
            raise ConfigError(f"allowed root {root!r} is not an existing directory")
        roots.append(os.fsencode(real))
    guard = PathGuard(roots, trusted=[os.fsencode(os.path.realpath(state_dir))])
    os.environ[ENVIRONMENT] = guard.to_environment()
    if roots:
        log.info("allowed roots: %s", ", ".join(os.fsdecode(r) for r in guard.roots))
    else:
        log.warning(
            "no allowed roots yet: every plan is refused until allowed_roots is set in the "
            "config file (docs/security.md)"
        )
    return guard
