"""``batchctl``: the command-line client of batchd.

    batchctl [--runtime-dir DIR | --endpoint URL] [--timeout S] [--json] COMMAND [ARGS]

Commands: ``ping`` and ``stats`` (here); ``submit`` and the plan builders ``move``, ``copy``,
``rename``, ``delete``, ``mkdir``, ``transform``, ``checksum`` (:mod:`batchd.client.cli_submit`);
``progress``, ``watch``, ``wait``, ``list``, ``show``, ``pause``, ``resume``, ``cancel``,
``retry`` (:mod:`batchd.client.cli_batches`); ``rollback``, ``undo``, ``history``, ``purge``
(:mod:`batchd.client.cli_rollback`); ``top`` (:mod:`batchd.client.cli_top`), ``check``
(:mod:`batchd.client.cli_check`), ``completion`` (:mod:`batchd.client.cli_completion`).
Global options may also follow the command (``batchctl ping --json``). docs/cli.md describes
every command and its output; docs/schemas/ has a JSON Schema of each ``--json`` output.

Output: aligned ``key: value`` lines, tables, or live bars on a terminal; with ``--json``
stdout is exactly one JSON document (JSON Lines for ``watch``). On failure stdout stays empty
and stderr gets one line ``batchctl: ...``.

Exit status (contract):
    0  success
    1  the operation failed: the daemon answered with an error, the plan is invalid, the
       batch (``wait``, ``--wait``, ``--watch``) ended with failed items or was cancelled, a
       rollback left conflicts (``--wait``) or would meet some (``--dry-run``), the daemon
       speaks another protocol version, or its reply was unreadable
    2  usage error: bad options or arguments, or an --endpoint ZeroMQ cannot use
    3  daemon not reachable within --timeout: the message names the endpoint and says how
       to start the daemon
  130  interrupted (Ctrl-C)

Only argparse is imported up front; the client (zmq, msgpack) is imported when a command runs
and rich only when a progress bar is drawn, which keeps ``batchctl --help`` quick. For the same
reason :func:`main` adds a command's own arguments only when that command is the one run
(about as long as the rest of ``batchctl ping`` otherwise); :func:`build_parser` returns the
parser complete, for completion scripts and tests.
"""

from __future__ import annotations

import argparse
import functools
import math
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from batchd.client import (
    cli_batches,
    cli_check,
    cli_completion,
    cli_keys,
    cli_rollback,
    cli_submit,
    cli_top,
)
from batchd.client.cli_command import Command, CommandFailed, UsageError
from batchd.client.cli_examples import epilog
from batchd.client.output import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    Output,
    OutputClosed,
)
from batchd.protocol.version import BATCHD_VERSION, PROTOCOL_VERSION

if TYPE_CHECKING:
    from batchd.client.api import Client
    from batchd.client.render import Rows

__all__ = [
    "COMMANDS",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_UNREACHABLE",
    "EXIT_USAGE",
    "build_parser",
    "main",
]


def _reply_command(summary: str, ask: Callable[[Client], tuple[object, Rows]]) -> Command:
    """A command that prints one reply: aligned rows, or the reply as JSON."""

    def run(client: Client, args: argparse.Namespace, out: Output) -> int:
        from batchd.client.render import aligned, json_document

        reply, rows = ask(client)
        out.emit(json_document(reply) if out.json else aligned(rows))
        return EXIT_OK

    return Command(summary, run)


def _ping(client: Client) -> tuple[object, Rows]:
    from batchd.client.render import ping_rows

    reply = client.ping()
    return reply, ping_rows(reply, client.endpoint)


def _stats(client: Client) -> tuple[object, Rows]:
    from batchd.client.render import stats_rows

    reply = client.stats()
    return reply, stats_rows(reply)


def _limits_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workers", metavar="N", type=int, help="worker processes")
    parser.add_argument("--cpu", metavar="P", type=int, help="CPU cap, percent of the machine")
    parser.add_argument("--worker-memory", metavar="MB", type=int, help="per worker, 0: none")
    parser.add_argument("--total-memory", metavar="MB", type=int, help="all workers, 0: none")
    parser.add_argument(
        "--batch", metavar="ID", type=int, help="--cpu caps this batch only (100: no cap)"
    )
    parser.epilog = "example: batchctl limits --cpu 50 --workers 2 (or --batch 7 --cpu 25)"


def _limits(client: Client, args: argparse.Namespace, out: Output) -> int:
    from batchd.client.render import aligned, json_document, limits_rows

    reply = client.limits(
        max_workers=args.workers,
        cpu_limit_percent=args.cpu,
        worker_memory_limit_mb=args.worker_memory,
        total_memory_limit_mb=args.total_memory,
        batch=args.batch,
    )
    out.emit(json_document(reply) if out.json else aligned(limits_rows(reply)))
    return EXIT_OK


COMMANDS: dict[str, Command] = {
    "ping": _reply_command("daemon and protocol versions, pid, uptime, last stop", _ping),
    "stats": _reply_command("daemon pid, rss, cpu, uptime, journal counters, limits", _stats),
    "limits": Command(
        "show or change the worker count and resource caps until restart",
        _limits,
        _limits_arguments,
    ),
    **cli_submit.COMMANDS,
    **cli_batches.COMMANDS,
    **cli_rollback.COMMANDS,
    **cli_top.COMMANDS,
    **cli_check.COMMANDS,
    **cli_completion.COMMANDS,
    **cli_keys.COMMANDS,
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
    cli_keys.add_curve_keys_option(parser, default(None))


if TYPE_CHECKING:
    _SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]
else:  # generic only in typeshed
    _SubParsers = argparse._SubParsersAction


class _CommandParsers(_SubParsers):
    """The commands' subparsers; each gets its own arguments when first asked to parse."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pending: dict[str, Callable[[], None]] = {}
        """What adds a command's arguments to its subparser, by command name."""

    def configure_all(self) -> None:
        """Add every command's arguments now."""
        while self.pending:
            self.pending.popitem()[1]()

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        if values and not isinstance(values, str):
            configure = self.pending.pop(values[0], None)
            if configure is not None:
                configure()
        super().__call__(parser, namespace, values, option_string)


def _configure(sub: argparse.ArgumentParser, name: str, command: Command) -> None:
    command.configure(sub)
    sub.epilog = sub.epilog or epilog(name)
    _add_global_options(sub, defaults=False)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of batchctl."""
    return _build_parser(lazy=False)


def _build_parser(*, lazy: bool) -> argparse.ArgumentParser:
    """The parser; with `lazy` each command's arguments are added when it is parsed."""
    parser = argparse.ArgumentParser(
        prog="batchctl", description="Control batchd, the batch file-operation daemon."
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"batchctl {BATCHD_VERSION} (protocol {PROTOCOL_VERSION})",
    )
    _add_global_options(parser, defaults=True)
    commands = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=True, action=_CommandParsers
    )
    assert isinstance(commands, _CommandParsers)
    for name, command in COMMANDS.items():
        sub = commands.add_parser(
            name,
            help=command.summary,
            description=command.summary,
            formatter_class=argparse.RawDescriptionHelpFormatter,  # keep the examples' lines
        )
        commands.pending[name] = functools.partial(_configure, sub, name, command)
    if not lazy:
        commands.configure_all()
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run batchctl; returns the exit status."""
    parser = _build_parser(lazy=True)
    try:
        args = parser.parse_args(argv)
        if args.endpoint is not None and args.runtime_dir is not None:
            parser.error("argument --endpoint: not allowed with argument --runtime-dir")
    except SystemExit as exc:  # argparse exits for --help, --version and usage errors
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    out = Output(args.json)
    try:
        return _run(COMMANDS[args.command], args, out)
    except KeyboardInterrupt:
        out.fail("interrupted")
        return EXIT_INTERRUPTED


def _run(command: Command, args: argparse.Namespace, out: Output) -> int:
    try:
        if command.prepare is not None:
            command.prepare(args)
    except UsageError as exc:
        out.fail(str(exc))
        return EXIT_USAGE
    except CommandFailed as exc:
        out.fail(str(exc))
        return EXIT_FAILED
    if command.offline is not None:
        try:
            return command.offline(args, out)
        except OutputClosed:
            return EXIT_FAILED

    from batchd.client.api import Client
    from batchd.client.errors import DaemonUnreachable, InvalidEndpoint
    from batchd.protocol.errors import BatchdError

    try:
        with Client.connect(args.endpoint, runtime_dir=args.runtime_dir, timeout=args.timeout) as c:
            return command.run(c, args, out)
    except DaemonUnreachable as exc:
        out.fail(exc.message)
        return EXIT_UNREACHABLE
    except InvalidEndpoint as exc:
        out.fail(exc.message)
        return EXIT_USAGE
    except BatchdError as exc:
        out.fail(exc.message)
        return EXIT_FAILED
    except OutputClosed:
        return EXIT_FAILED
    finally:
        _release(args)


def _release(args: argparse.Namespace) -> None:
    """Close a plan file a command opened in its prepare step."""
    plan = getattr(args, "plan", None)
    close = getattr(plan, "close", None)
    if close is not None and plan is not sys.stdin.buffer:
        close()
