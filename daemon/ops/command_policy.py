"""Which transform commands plans may run (config ``transform_commands``; unset: any).

A transform's command runs with the daemon's privileges, never through a shell (the plan
gives an argv list). A system service should name the commands its users may run:
``transform_commands = ["tr", "/usr/bin/convert"]``; a plan whose command's first word is not
one of them, exactly as written, is refused at validation with its line. The daemon hands the
list to its validators through the environment, as it does the allowed roots.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Final

ENVIRONMENT: Final = "BATCHD_TRANSFORM_COMMANDS_IN_FORCE"


def export_commands(commands: Sequence[str] | None) -> None:
    """Hand the allow-list (None: any command) to child processes."""
    if commands is None:
        os.environ.pop(ENVIRONMENT, None)
    else:
        os.environ[ENVIRONMENT] = json.dumps(list(commands))


def commands_in_force() -> frozenset[str] | None:
    """The allow-list the daemon exported, or None (any command)."""
    raw = os.environ.get(ENVIRONMENT)
    return None if raw is None else frozenset(json.loads(raw))


def refusal(command: Sequence[str], allowed: frozenset[str] | None) -> str | None:
    """Why ``command`` may not run (None when it may)."""
    if allowed is None or (command and command[0] in allowed):
        return None
    listed = ", ".join(sorted(allowed)) or "none"
    name = command[0] if command else ""
    return f"transform command {name!r} is not in transform_commands ({listed})"
