"""``show``: a batch and one page of its items with states, errors and results.
CLI: ``batchctl show ID [--failed]``."""

from __future__ import annotations

import time

from batchd.daemon.context import DaemonContext
from batchd.protocol.batch_messages import ItemInfo, ShowReply, ShowRequest
from batchd.protocol.errors import InvalidArguments

MAX_PAGE = 10_000
REPLY_BUDGET = 1024 * 1024
"""Bytes of paths, errors, results and diagnostics one reply carries at most (the message
limit is 2 MiB); a page that would exceed it is cut short and the client asks for the next."""


def handle(ctx: DaemonContext, request: ShowRequest) -> ShowReply:
    """Read the page's steps from the plan store and their results from the results log."""
    if request.offset < 0 or not 0 < request.limit <= MAX_PAGE:
        raise InvalidArguments(f"offset must be >= 0 and limit from 1 to {MAX_PAGE}")
    registry = ctx.engine.registry
    batch = registry.get(request.batch)
    if request.failed_only:
        failed = sorted(batch.errors)
        matched = len(failed)
        indices = failed[request.offset : request.offset + request.limit]
        steps = [step for index in indices for step in batch.steps.read(index, 1)]
    else:
        matched = batch.total
        first = min(request.offset, batch.total)
        steps = batch.steps.read(first, min(request.limit, batch.total - first))
    results = registry.results(batch.id).lookup({step.index for step in steps})
    items: list[ItemInfo] = []
    budget = REPLY_BUDGET
    for step in steps:
        result = results.get(step.index)
        size = len(step.path) + len(step.dest or b"")
        size += sum(len(r.error) + len(r.result) + len(r.diagnostics) for r in (result,) if r)
        budget -= size + 64
        if budget < 0 and items:
            break
        items.append(
            ItemInfo(
                index=step.index,
                line=step.line,
                op=step.op.name.lower(),
                path=step.path,
                dest=step.dest,
                state=batch.item_state(step.index),
                attempts=batch.attempts[step.index],
                error=batch.errors.get(step.index, result.error if result else ""),
                result=result.result if result else "",
                diagnostics=result.diagnostics if result else "",
            )
        )
    progress = batch.progress(time.monotonic(), time.time())
    return ShowReply(batch=progress, items=tuple(items), matched=matched)
