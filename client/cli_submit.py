"""batchctl commands that submit a plan: ``submit PLAN`` and the plan builders.

    submit PLAN                      a JSON Lines plan file, ``-`` for stdin
    move SRC… DIR, copy SRC… DIR     each source to DIR/<its name>
    rename REGEX REPL PATH…          re.sub on the final name; non-matching paths left out
    delete PATH…, mkdir PATH…
    transform --command CMD PATH…    CMD split with shlex, never run through a shell
    checksum [--algorithm A] PATH…

Each takes ``--name N``, ``--priority P``, ``--dry-run`` and ``--wait`` or ``--watch``. The plan
is built (and a plan file opened) before connecting, so bad arguments exit 2 whether or not a
daemon runs. Output: the batch id (``{"id", "total"}`` with ``--json``); an invalid plan prints
``line N: message`` per problem on stderr and exits 1; a dry run prints the validated steps and
exits 0 when the plan is valid. ``--wait``/``--watch`` then exit like ``wait``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from batchd.client.cli_command import Command, CommandFailed, UsageError, integer
from batchd.client.output import EXIT_FAILED, EXIT_OK, Output

if TYPE_CHECKING:
    from batchd.client.api import Client
    from batchd.client.plans import Item
    from batchd.protocol.batch_messages import UploadStatusReply


def _submit_and_report(client: Client, args: argparse.Namespace, out: Output) -> int:
    """Upload args.plan, then print the outcome and (with --wait/--watch) follow the batch."""
    from batchd.client.bars import UploadMeter
    from batchd.protocol.batch_messages import UploadState

    meter = UploadMeter(out)
    try:
        reply = client.submit_plan(
            args.plan,
            name=args.name if args.name is not None else args.default_name,
            dry_run=args.dry_run,
            priority=args.priority,
            on_upload=meter,
        )
    finally:
        meter.clear()
    if reply.state is UploadState.INVALID:
        return _report_invalid(reply, out)
    if reply.state is UploadState.CHECKED or args.dry_run:
        return _report_checked(reply, out)
    assert reply.batch is not None, "an accepted upload names its batch"
    return _report_accepted(client, reply.batch, reply.total, args, out)


def _report_invalid(reply: UploadStatusReply, out: Output) -> int:
    from batchd.client.render import json_document
    from batchd.client.tables import invalid_jsonable, problem_lines

    if out.json:
        out.emit(json_document(invalid_jsonable(reply)))
    else:
        for line in problem_lines(reply):
            out.note(line)
        count = reply.problem_count
        out.fail(f"the plan has {count} problem{'s' if count != 1 else ''}; nothing was submitted")
    return EXIT_FAILED


def _report_checked(reply: UploadStatusReply, out: Output) -> int:
    from batchd.client.render import json_document
    from batchd.client.tables import checked_jsonable, problem_lines, steps_table

    valid = reply.problem_count == 0
    if out.json:
        out.emit(json_document(checked_jsonable(reply)))
        return EXIT_OK if valid else EXIT_FAILED
    if reply.preview:
        out.emit(steps_table(reply.preview, out.colour))
    for line in problem_lines(reply):
        out.note(line)
    shown = f" (the first {len(reply.preview)} shown)" if len(reply.preview) < reply.total else ""
    if valid:
        items = f"{reply.total} item{'s' if reply.total != 1 else ''}"
        out.emit(f"dry run: the plan is valid, {items}{shown}; nothing was run")
        return EXIT_OK
    count = reply.problem_count
    out.fail(f"dry run: the plan has {count} problem{'s' if count != 1 else ''}; nothing was run")
    return EXIT_FAILED


def _report_accepted(
    client: Client, batch: int, total: int, args: argparse.Namespace, out: Output
) -> int:
    from batchd.client.cli_batches import succeeded, wait_for, watch_batches

    if args.follow == "wait":
        if not out.json:
            out.emit(str(batch))
        return wait_for(client, batch, out)
    if args.follow == "watch":
        if not out.json:
            out.emit(str(batch))
        final = watch_batches(client, [batch], out, args.interval)
        return EXIT_OK if final and succeeded(final[-1]) else EXIT_FAILED
    if out.json:
        from batchd.client.render import json_document

        out.emit(json_document({"id": batch, "total": total}))
    else:
        out.emit(str(batch))
        if out.stderr_terminal:
            out.note(
                f"batch {batch}: {total} items queued; follow it with `batchctl watch {batch}`"
            )
    return EXIT_OK


def _open_plan(args: argparse.Namespace) -> None:
    path: str = args.plan_path
    if path == "-":
        args.plan, args.default_name = sys.stdin.buffer, "stdin"
        return
    try:
        args.plan = open(path, "rb")  # noqa: SIM115 - closed after the upload
    except OSError as exc:
        raise CommandFailed(f"cannot read the plan {path!r}: {exc.strerror}") from None
    args.default_name = os.path.basename(path)


def _builder(build: Callable[[argparse.Namespace], list[Item]], op: str) -> Callable[..., None]:
    def prepare(args: argparse.Namespace) -> None:
        from batchd.client.plans import PlanArgumentError, plan_bytes

        try:
            items = build(args)
        except PlanArgumentError as exc:
            raise UsageError(f"{op}: {exc}") from None
        if not items:
            raise CommandFailed(f"{op}: no path matches; nothing to do")
        args.plan = plan_bytes(items)
        args.default_name = f"{op} {len(items)} item{'s' if len(items) != 1 else ''}"

    return prepare


def _build_move(args: argparse.Namespace) -> list[Item]:
    from batchd.client.plans import move_items

    return move_items(args.sources, args.directory, overwrite=args.overwrite)


def _build_copy(args: argparse.Namespace) -> list[Item]:
    from batchd.client.plans import copy_items

    return copy_items(args.sources, args.directory, overwrite=args.overwrite)


def _build_rename(args: argparse.Namespace) -> list[Item]:
    from batchd.client.plans import rename_items

    return rename_items(args.regex, args.replacement, args.paths, overwrite=args.overwrite)


def _build_delete(args: argparse.Namespace) -> list[Item]:
    from batchd.client.plans import delete_items

    return delete_items(args.paths)


def _build_mkdir(args: argparse.Namespace) -> list[Item]:
    from batchd.client.plans import mkdir_items

    return mkdir_items(args.paths)


def _build_transform(args: argparse.Namespace) -> list[Item]:
    from batchd.client.plans import transform_items

    return transform_items(args.command_line, args.paths)


def _build_checksum(args: argparse.Namespace) -> list[Item]:
    from batchd.client.plans import checksum_items

    return checksum_items(args.paths, args.algorithm)


def _submit_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", metavar="N", help="a name for the batch")
    parser.add_argument(
        "--priority", metavar="P", type=integer, default=0, help="higher runs first (default 0)"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="validate and show the steps; run nothing"
    )
    follow = parser.add_mutually_exclusive_group()
    follow.add_argument(
        "--wait",
        dest="follow",
        action="store_const",
        const="wait",
        help="wait until the batch ends; exit 0 only if every item succeeded",
    )
    follow.add_argument(
        "--watch",
        dest="follow",
        action="store_const",
        const="watch",
        help="show live progress until the batch ends; exit like --wait",
    )
    parser.set_defaults(follow=None, interval=2.0)


def _with(*adders: Callable[[argparse.ArgumentParser], None]) -> Callable[..., None]:
    def configure(parser: argparse.ArgumentParser) -> None:
        for add in adders:
            add(parser)
        _submit_options(parser)

    return configure


def _plan_file(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("plan_path", metavar="PLAN", help="JSON Lines plan file; - for stdin")


def _into_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sources", metavar="SRC", nargs="+", help="files or directories")
    parser.add_argument("directory", metavar="DIR", help="the directory to put them in")
    _overwrite(parser)


def _overwrite(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace existing destinations (their old content goes to the undo store)",
    )


def _rename_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("regex", metavar="REGEX", help="Python regular expression")
    parser.add_argument("replacement", metavar="REPL", help="replacement (\\1, \\g<name>)")
    parser.add_argument("paths", metavar="PATH", nargs="+", help="files to rename")
    _overwrite(parser)


def _paths(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", metavar="PATH", nargs="+")


def _transform_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--command",
        dest="command_line",
        metavar="CMD",
        required=True,
        help="filter command: the file on stdin, new content on stdout (split like a shell)",
    )
    _paths(parser)


def _checksum_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--algorithm", metavar="A", default="sha256", help="hash algorithm (default sha256)"
    )
    _paths(parser)


def _plan_command(
    summary: str, arguments: Callable[[argparse.ArgumentParser], None], op: str
) -> Command:
    builders = {
        "move": _build_move,
        "copy": _build_copy,
        "rename": _build_rename,
        "delete": _build_delete,
        "mkdir": _build_mkdir,
        "transform": _build_transform,
        "checksum": _build_checksum,
    }
    return Command(summary, _submit_and_report, _with(arguments), _builder(builders[op], op))


COMMANDS: dict[str, Command] = {
    "submit": Command(
        "run a plan file (JSON Lines; - reads stdin)",
        _submit_and_report,
        _with(_plan_file),
        _open_plan,
    ),
    "move": _plan_command("move files into a directory", _into_dir, "move"),
    "copy": _plan_command("copy files into a directory", _into_dir, "copy"),
    "rename": _plan_command("rename files with a regular expression", _rename_args, "rename"),
    "delete": _plan_command("delete files", _paths, "delete"),
    "mkdir": _plan_command("create directories", _paths, "mkdir"),
    "transform": _plan_command("filter files through a command", _transform_args, "transform"),
    "checksum": _plan_command("compute file checksums", _checksum_args, "checksum"),
}
