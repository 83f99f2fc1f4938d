"""What a batchctl command is: its arguments, an optional step before connecting, and a run.

Kept free of zmq and msgpack (only argparse and the standard library), so that building the
parser for ``batchctl --help`` stays quick; each command imports the client when it runs.
"""

from __future__ import annotations

import argparse
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
