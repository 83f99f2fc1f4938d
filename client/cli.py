"""``batchctl``: the command-line client of batchd.

    batchctl [--runtime-dir DIR | --endpoint URL] [--timeout S] [--json] COMMAND

Commands: ``ping`` (daemon and protocol versions, pid, uptime, whether its last stop was clean)
and ``stats`` (the daemon's pid, rss, cpu, uptime, journal counters, limits in force). Global
options may also follow the command (``batchctl ping --json``).

Output: aligned ``key: value`` lines; with ``--json`` stdout is exactly one JSON document with
the reply's fields. On failure stdout stays empty and stderr gets one line ``batchctl: ...``.

Exit status (contract):
    0  success
    1  the operation failed: the daemon answered with an error, or it speaks another
       protocol version (the message names both versions), or its reply was unreadable
    2  usage error: bad options or arguments, or an --endpoint ZeroMQ cannot use
    3  daemon not reachable within --timeout: the message names the endpoint and says how
       to start the daemon
  130  interrupted (Ctrl-C)

Only argparse is imported up front; the client (zmq, msgpack) is imported when a command runs,
which keeps ``batchctl --help`` quick.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from batchd.protocol.version import BATCHD_VERSION, PROTOCOL_VERSION

if TYPE_CHECKING:
    from batchd.client.api import Client
    from batchd.client.render import Rows

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_INTERRUPTED = 130

CommandRun = Callable[["Client"], tuple[object, "Rows"]]


def _ping(client: Client) -> tuple[object, Rows]:
    from batchd.client.render import ping_rows

    reply = client.ping()
    return reply, ping_rows(reply, client.endpoint)


def _stats(client: Client) -> tuple[object, Rows]:
    from batchd.client.render import stats_rows

    reply = client.stats()
    return reply, stats_rows(reply)


COMMANDS: dict[str, tuple[str, CommandRun]] = {
    "ping": ("daemon and protocol versions, pid, uptime, last stop", _ping),
    "stats": ("daemon pid, rss, cpu, uptime, journal counters, limits", _stats),
}


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds: {text!r}")
    return value


def _add_global_options(parser: argparse.ArgumentParser, *, defaults: bool) -> None:
    """The options valid before and after the command; only the top level sets defaults."""

    def default(value: object) -> object:
        return value if defaults else argparse.SUPPRESS

    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--runtime-dir",
        metavar="DIR",
        default=default(None),
        help="the daemon's runtime directory (default: as the daemon picks it)",
    )
    where.add_argument(
        "--endpoint",
        metavar="URL",
        default=default(None),
        help="the control endpoint, e.g. ipc:///run/batchd/control.sock",
    )
    parser.add_argument(
        "--timeout",
        metavar="S",
        type=_seconds,
        default=default(5.0),
        help="seconds to wait for the daemon (default: 5)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        default=default(False),
        help="print exactly one JSON document",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of batchctl."""
    parser = argparse.ArgumentParser(
        prog="batchctl", description="Control batchd, the batch file-operation daemon."
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"batchctl {BATCHD_VERSION} (protocol {PROTOCOL_VERSION})",
    )
    _add_global_options(parser, defaults=True)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (summary, _) in COMMANDS.items():
        sub = commands.add_parser(name, help=summary, description=summary)
        _add_global_options(sub, defaults=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run batchctl; returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.endpoint is not None and args.runtime_dir is not None:
            parser.error("argument --endpoint: not allowed with argument --runtime-dir")
    except SystemExit as exc:  # argparse exits for --help, --version and usage errors
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        return _run(args)
    except KeyboardInterrupt:
        _fail("interrupted")
        return EXIT_INTERRUPTED


def _run(args: argparse.Namespace) -> int:
    from batchd.client.api import Client
    from batchd.client.errors import DaemonUnreachable, InvalidEndpoint
    from batchd.client.render import aligned, json_document
    from batchd.protocol.errors import BatchdError

    run = COMMANDS[args.command][1]
    try:
        with Client.connect(args.endpoint, runtime_dir=args.runtime_dir, timeout=args.timeout) as c:
            reply, rows = run(c)
    except DaemonUnreachable as exc:
        _fail(exc.message)
        return EXIT_UNREACHABLE
    except InvalidEndpoint as exc:
        _fail(exc.message)
        return EXIT_USAGE
    except BatchdError as exc:
        _fail(exc.message)
        return EXIT_FAILED
    return _emit(json_document(reply) if args.json else aligned(rows))


def _emit(text: str) -> int:
    try:
        print(text, flush=True)
    except BrokenPipeError:
        # The reader went away (`batchctl stats | head -1`); silence the flush at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
    return EXIT_OK


def _fail(message: str) -> None:
    print(f"batchctl: {' '.join(message.split())}", file=sys.stderr)
