"""What a batchctl command is: its arguments, an optional step before connecting, and a run.

Kept free of zmq and msgpack (only argparse and the standard library), so that building the
parser for ``batchctl --help`` stays quick; each command imports the client when it runs.
"""

from __future__ import annotations

import argparse
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from batchd.client.api import Client
    from batchd.client.output import Output


class UsageError(Exception):
    """Raised by a command for arguments argparse cannot judge (a bad regex); exit 2."""


class CommandFailed(Exception):
    """Raised by a command that cannot go on (an unreadable plan file); exit 1."""


def _no_arguments(parser: argparse.ArgumentParser) -> None:
    del parser


@dataclass(frozen=True)
class Command:
    """One batchctl command."""

    summary: str
    run: Callable[[Client, argparse.Namespace, Output], int]
    """Do the work with a connected client; returns the exit status."""
    configure: Callable[[argparse.ArgumentParser], None] = _no_arguments
    """Add the command's own arguments to its subparser."""
    prepare: Callable[[argparse.Namespace], None] | None = None
    """Check and load what the command needs before connecting (a plan); may raise
    UsageError or CommandFailed, so bad arguments fail the same with or without a daemon."""
    offline: Callable[[argparse.Namespace, Output], int] | None = None
    """Run instead of connecting, for commands that need no daemon (``completion``) or open
    their own connection to report an unreachable daemon their own way (``check``)."""


def not_connected(client: Client, args: argparse.Namespace, out: Output) -> int:
    """The ``run`` of a command that has an ``offline`` step: never called."""
    raise AssertionError("an offline command does not connect")


def batch_id(text: str) -> int:
    """An argparse type: a batch id, a non-negative integer."""
    try:
        value = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a batch id: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"not a batch id: {text!r}")
    return value


def count(text: str) -> int:
    """An argparse type: a count or offset, a non-negative integer."""
    try:
        value = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {text!r}")
    return value


def integer(text: str) -> int:
    """An argparse type: any integer (a priority)."""
    try:
        return int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None


_LINES = re.compile(r"([0-9]+)(?:-([0-9]+))?")


def item_spec(text: str) -> str:
    """An argparse type: plan lines like ``3,7-9`` (1-based lines and ranges a-b, a <= b)."""
    parts = [part.strip() for part in text.split(",")]
    for part in parts:
        match = _LINES.fullmatch(part)
        if match is None:
            raise argparse.ArgumentTypeError(
                f"{text!r}: {part!r} is not a plan line or a range of lines; "
                "write lines and ranges like 3,7-9"
            )
        first, last = int(match[1]), int(match[2] or match[1])
        if first < 1:
            raise argparse.ArgumentTypeError(f"{text!r}: plan lines start at 1, not {part!r}")
        if last < first:
            raise argparse.ArgumentTypeError(
                f"{text!r}: the range {part!r} runs backwards; write {last}-{first}"
            )
    return ",".join(parts)


def path_glob(text: str) -> str:
    """An argparse type: a shell glob matched against absolute paths; one that starts with
    neither ``/`` nor ``*`` is taken relative to the working directory."""
    if not text:
        raise argparse.ArgumentTypeError("the pattern is empty")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not valid UTF-8; match such names with wildcards (?, *)"
        ) from None
    if text.startswith(("/", "*")):
        return text
    return os.path.normpath(os.path.join(os.getcwd(), text))


def positive(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        value = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text!r}")
    return value


def days(text: str) -> float:
    """An argparse type: a number of days, 0 or more."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of days: {text!r}") from None
    if not (value >= 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be 0 or more days: {text!r}")
    return value
