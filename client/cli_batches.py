"""batchctl commands about existing batches: progress, watch, wait, list, show and control.

    progress ID            the batch's progress fields
    watch [ID…]            live progress until the batches end (all active ones by default)
    wait ID                block until the batch ends; exit 0 only if every item succeeded
    list [--all]           active batches (or all) as a table
    show ID [--failed]     the batch and its items, with states and errors
    pause|resume|cancel|retry ID

With ``--json`` each prints one JSON document (``watch``: JSON Lines, one BatchProgress per
update). ``wait`` and ``watch`` follow the batch's events and poll when they go quiet; every
request is bounded by ``--timeout``, the wait itself is not (Ctrl-C ends it).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TYPE_CHECKING

from batchd.client.cli_command import Command, batch_id, count
from batchd.client.output import EXIT_FAILED, EXIT_OK, Output

if TYPE_CHECKING:
    from batchd.client.api import Client
    from batchd.protocol.batch_messages import BatchProgress, ShowReply

SHOW_PAGE = 1000
"""Items asked for per ``show`` request."""

DEFAULT_LINE_INTERVAL = 2.0
"""Seconds between plain progress lines of a running batch when stdout is not a terminal."""


def succeeded(progress: BatchProgress) -> bool:
    """Whether the batch completed with every item succeeded."""
    from batchd.protocol.batch_messages import BatchState

    return progress.state is BatchState.COMPLETED and progress.failed == 0


def wait_for(client: Client, batch: int, out: Output) -> int:
    """Wait for the batch to end, print its final progress, exit 0 only if it succeeded."""
    from batchd.client.render import json_document
    from batchd.client.tables import progress_line

    final = client.wait(batch)
    out.emit(json_document(final) if out.json else progress_line(final, out.colour))
    return EXIT_OK if succeeded(final) else EXIT_FAILED


def watch_batches(
    client: Client, batches: Sequence[int] | None, out: Output, interval: float
) -> list[BatchProgress]:
    """Show live progress until every watched batch ended; returns their final progress."""
    from batchd.client.bars import display_for

    final: dict[int, BatchProgress] = {}
    with display_for(out, interval) as display:
        for update in client.watch(batches):
            final[update.id] = update
            display.update(update)
    return [final[batch] for batch in sorted(final)]


def _progress(client: Client, args: argparse.Namespace, out: Output) -> int:
    from batchd.client.render import aligned, json_document
    from batchd.client.tables import progress_rows

    reply = client.progress(args.batch)
    out.emit(json_document(reply) if out.json else aligned(progress_rows(reply)))
    return EXIT_OK


def _watch(client: Client, args: argparse.Namespace, out: Output) -> int:
    batches = args.batches or None
    final = watch_batches(client, batches, out, args.interval)
    if not final and not out.json:
        out.emit("no active batches")
    return EXIT_OK


def _wait(client: Client, args: argparse.Namespace, out: Output) -> int:
    return wait_for(client, args.batch, out)


def _list(client: Client, args: argparse.Namespace, out: Output) -> int:
    from batchd.client.render import json_document
    from batchd.client.tables import batches_table

    reply = client.list_batches(all=args.all)
    if out.json:
        out.emit(json_document(reply))
    elif reply.batches:
        out.emit(batches_table(reply.batches, out.colour))
    else:
        out.emit("no batches" if args.all else "no active batches (list --all shows ended ones)")
    return EXIT_OK


def fetch_items(
    client: Client, batch: int, failed: bool, offset: int = 0, wanted: int = SHOW_PAGE
) -> ShowReply:
    """The batch and up to `wanted` of its items (only failed ones with `failed`) from
    `offset`, asked for a page at a time."""
    page = client.show(batch, failed, offset, min(SHOW_PAGE, wanted) or 1)
    items = list(page.items[:wanted])
    while len(items) < wanted and page.items and offset + len(items) < page.matched:
        start = offset + len(items)
        page = client.show(batch, failed, start, min(SHOW_PAGE, wanted - len(items)))
        items.extend(page.items)
    return type(page)(page.batch, tuple(items), page.matched)


def _show(client: Client, args: argparse.Namespace, out: Output) -> int:
    from batchd.client.render import json_document
    from batchd.client.rollback_tables import rollback_notes
    from batchd.client.tables import items_table, progress_line, show_jsonable

    offset = args.offset
    reply = fetch_items(client, args.batch, args.failed, offset, args.limit)
    items = reply.items
    if out.json:
        out.emit(json_document(show_jsonable(reply, offset)))
        return EXIT_OK
    lines = [progress_line(reply.batch, out.colour), *rollback_notes(reply.batch)]
    what = "failed items" if args.failed else "items"
    if items:
        lines += ["", items_table(items, out.colour)]
        if offset + len(items) < reply.matched or offset:
            lines.append(
                f"{what} {offset + 1}-{offset + len(items)} of {reply.matched}; "
                f"see more with --offset {offset + len(items)}"
            )
    else:
        lines.append(f"no {what}" + (f" from offset {offset}" if offset else ""))
    out.emit("\n".join(lines))
    return EXIT_OK


def _control(action: str) -> Command:
    def run(client: Client, args: argparse.Namespace, out: Output) -> int:
        from batchd.client.render import json_document
        from batchd.client.tables import progress_line

        reply: BatchProgress = getattr(client, action)(args.batch)
        out.emit(json_document(reply) if out.json else progress_line(reply, out.colour))
        return EXIT_OK

    summaries = {
        "pause": "stop starting items of a batch (running ones finish)",
        "resume": "run a paused or interrupted batch again",
        "cancel": "stop a batch for good (running items finish, the rest are skipped)",
        "retry": "run the failed items of an ended batch again",
    }
    return Command(summaries[action], run, _one_batch)


def _one_batch(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("batch", metavar="ID", type=batch_id, help="the batch id")


def _watch_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "batches", metavar="ID", type=batch_id, nargs="*", help="batch ids (default: all active)"
    )
    parser.add_argument(
        "--interval",
        metavar="S",
        type=float,
        default=DEFAULT_LINE_INTERVAL,
        help="seconds between plain progress lines when stdout is not a terminal (default: 2)",
    )


def _list_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--all", action="store_true", help="also batches that ended")


def _show_arguments(parser: argparse.ArgumentParser) -> None:
    _one_batch(parser)
    parser.add_argument("--failed", action="store_true", help="only items that failed")
    parser.add_argument("--offset", metavar="N", type=count, default=0, help="skip N items")
    parser.add_argument(
        "--limit", metavar="N", type=count, default=1000, help="show at most N items (1000)"
    )


COMMANDS: dict[str, Command] = {
    "progress": Command("progress of a batch: counts, rate, ETA", _progress, _one_batch),
    "watch": Command("live progress of batches until they end", _watch, _watch_arguments),
    "wait": Command("wait until a batch ends; exit 0 if every item succeeded", _wait, _one_batch),
    "list": Command("batches with state and progress", _list, _list_arguments),
    "show": Command("a batch with its items, states and errors", _show, _show_arguments),
    "pause": _control("pause"),
    "resume": _control("resume"),
    "cancel": _control("cancel"),
    "retry": _control("retry"),
}
