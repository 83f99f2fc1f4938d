"""batchctl commands of undo: rollback, undo, history and purge.

    rollback ID… [--items SPEC] [--paths GLOB]… [--dry-run] [--force] [--wait]
    undo [--dry-run] [--force] [--wait]       the newest batch that can still be rolled back
    history [--limit N] [--batch ID]          the operation log, oldest first
    purge ID… | --older-than DAYS             drop undo data

A rollback runs as a batch of its own: batchctl prints its id, and with ``--wait`` follows it
like ``submit --wait`` and lists its conflicts (the items it left alone because the files
changed since). A batch that still runs is stopped first; batchctl waits for it to end (at
most a minute) and asks again. ``--items`` and ``--paths`` are checked before connecting, so a
bad one exits 2 whether or not a daemon runs.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING

from batchd.client.cli_command import (
    Command,
    UsageError,
    batch_id,
    days,
    item_spec,
    path_glob,
    positive,
)
from batchd.client.output import EXIT_FAILED, EXIT_OK, Output

if TYPE_CHECKING:
    from batchd.client.api import Client
    from batchd.protocol.errors import BatchBusy
    from batchd.protocol.rollback_messages import RollbackReply

DEFAULT_LINE_INTERVAL = 2.0
"""Seconds between plain progress lines of a rollback followed with --wait (not a terminal)."""


def _busy_note(out: Output) -> Callable[[BatchBusy], None]:
    def note(busy: BatchBusy) -> None:
        if out.stderr_terminal:
            batch = busy.details.get("batch")
            out.note(f"{busy.message}; waiting for batch {batch} to end, then rolling back")

    return note


def _rollback(client: Client, args: argparse.Namespace, out: Output) -> int:
    from batchd.client.rollback_tables import blocked_message
    from batchd.protocol.errors import RollbackBlocked

    try:
        reply = client.rollback(
            args.batches,
            items=args.items or "",
            paths=args.paths,
            dry_run=args.dry_run,
            force=args.force,
            on_busy=_busy_note(out),
        )
    except RollbackBlocked as exc:
        out.fail(blocked_message(exc, args.batches))
        return EXIT_FAILED
    if args.dry_run:
        return _report_dry_run(reply, out)
    return _report_started(client, reply, args.wait, out)


def _report_dry_run(reply: RollbackReply, out: Output) -> int:
    from batchd.client.render import json_document
    from batchd.client.rollback_tables import (
        actions_table,
        already_line,
        dry_run_summary,
        rollback_jsonable,
    )

    status = EXIT_FAILED if reply.conflicts else EXIT_OK
    if out.json:
        out.emit(json_document(rollback_jsonable(reply)))
        return status
    if reply.preview:
        out.emit(actions_table(reply.preview, out.colour))
    if reply.already:
        out.emit(already_line(reply.already))
    out.emit(dry_run_summary(reply))
    return status


def _report_started(client: Client, reply: RollbackReply, wait: bool, out: Output) -> int:
    from batchd.client.render import json_document
    from batchd.client.rollback_tables import (
        already_line,
        batches_text,
        rollback_jsonable,
        started_line,
    )

    if out.json:
        document = rollback_jsonable(reply)
        status = EXIT_OK
        if wait and reply.rollback is not None:
            status = _wait_as_json(client, reply.rollback, document)
        out.emit(json_document(document))
        return status
    if reply.already:
        out.emit(already_line(reply.already))
    if reply.rollback is None:
        if not reply.already:
            nothing = f"nothing to undo in {batches_text(reply.batches)}"
            out.emit(nothing if reply.batches else "no batch can be rolled back")
        return EXIT_OK
    out.emit(started_line(reply))
    return _follow(client, reply.rollback, out) if wait else EXIT_OK


def _wait_as_json(client: Client, batch: int, document: dict[str, object]) -> int:
    """Wait for the rollback batch; add its final progress and its conflicts to `document`."""
    from batchd.client.cli_batches import fetch_items, succeeded
    from batchd.client.render import to_jsonable
    from batchd.client.tables import item_jsonable

    final = client.wait(batch)
    failed = final.failed or final.conflicts
    conflicts = fetch_items(client, batch, True).items if failed else ()
    document["final"] = to_jsonable(final)
    document["failed_items"] = [item_jsonable(item) for item in conflicts]
    return EXIT_OK if succeeded(final) else EXIT_FAILED


def _follow(client: Client, batch: int, out: Output) -> int:
    """The rollback batch's live progress until it ends, then its conflicts."""
    from batchd.client.cli_batches import fetch_items, succeeded, watch_batches
    from batchd.client.rollback_tables import plural
    from batchd.client.tables import items_table

    final = watch_batches(client, [batch], out, DEFAULT_LINE_INTERVAL)[-1]
    if final.failed or final.conflicts:
        page = fetch_items(client, batch, True)
        count = max(final.failed, final.conflicts)
        lines = ["", f"{plural(count, 'conflict')}, left as they are:"]
        lines.append(items_table(page.items, out.colour))
        if len(page.items) < page.matched:
            lines.append(f"see all {page.matched} with: batchctl show {batch} --failed")
        out.emit("\n".join(lines))
    return EXIT_OK if succeeded(final) else EXIT_FAILED


def _history(client: Client, args: argparse.Namespace, out: Output) -> int:
    from batchd.client.render import json_document
    from batchd.client.rollback_tables import history_table

    reply = client.history(args.limit, args.batch)
    if out.json:
        out.emit(json_document(reply))
    elif reply.events:
        out.emit(history_table(reply.events, out.colour))
    else:
        out.emit("no events" if args.batch is None else f"no events of batch {args.batch}")
    return EXIT_OK


def _purge(client: Client, args: argparse.Namespace, out: Output) -> int:
    from batchd.client.render import json_document
    from batchd.client.rollback_tables import purge_line

    reply = client.purge(args.batches, args.older_than)
    out.emit(json_document(reply) if out.json else purge_line(reply))
    return EXIT_OK


def _check_purge(args: argparse.Namespace) -> None:
    if args.batches and args.older_than is not None:
        raise UsageError("purge: give batch ids or --older-than DAYS, not both")
    if not args.batches and args.older_than is None:
        raise UsageError("purge: name the batches (batchctl purge 3 4) or give --older-than DAYS")


def _undo_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="list the undo actions and their conflicts; change nothing",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="undo also files changed since (their current version goes to the undo store)",
    )
    parser.add_argument(
        "--wait",
        action="store_true",
        help="follow the rollback until it ends; exit 1 if it left conflicts",
    )


def _rollback_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "batches", metavar="ID", type=batch_id, nargs="+", help="batch ids (undone newest first)"
    )
    parser.add_argument("--items", metavar="SPEC", type=item_spec, help="plan lines, e.g. 3,7-9")
    parser.add_argument(
        "--paths",
        metavar="GLOB",
        type=path_glob,
        action="append",
        default=[],
        help="only items with a path matching GLOB (repeatable; relative to the current dir)",
    )
    _undo_options(parser)
    parser.epilog = "example: batchctl rollback 7 --items 3,7-9 --dry-run"


def _undo_arguments(parser: argparse.ArgumentParser) -> None:
    _undo_options(parser)
    parser.set_defaults(batches=[], items="", paths=[])


def _history_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--limit", metavar="N", type=positive, default=100, help="newest N events (100)"
    )
    parser.add_argument("--batch", metavar="ID", type=batch_id, help="only events of one batch")


def _purge_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("batches", metavar="ID", type=batch_id, nargs="*", help="batch ids")
    parser.add_argument(
        "--older-than",
        metavar="DAYS",
        type=days,
        help="every batch that ended more than DAYS days ago",
    )


COMMANDS: dict[str, Command] = {
    "rollback": Command(
        "undo batches (newest first) or some of their items", _rollback, _rollback_arguments
    ),
    "undo": Command(
        "roll back the newest batch that can still be rolled back", _rollback, _undo_arguments
    ),
    "history": Command(
        "the operation log: submits, ends, rollbacks, purges", _history, _history_arguments
    ),
    "purge": Command(
        "drop undo data (those batches can no longer be rolled back)",
        _purge,
        _purge_arguments,
        _check_purge,
    ),
}
