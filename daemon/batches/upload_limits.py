"""Request limits on plan uploads: items per plan, and uploads plus active batches per client.

Pure helpers for :mod:`batchd.daemon.batches.uploads`. A plan's items are counted while it
streams in, so a plan over ``max_plan_items`` is refused at the chunk that crosses the limit,
before it fills the disk or reaches the validator. A client is a ``Peer.client_key``: the uid
over ipc, the CURVE key over tcp, else the connection.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from batchd.protocol.errors import InvalidPlan, Unavailable


@dataclass(frozen=True, slots=True)
class ClientQuota:
    """The per-client cap: at most ``limit`` uploads in progress plus active batches."""

    limit: int
    who: str
    """The client for messages: ``uid 1000``, ``CURVE client …``."""
    active_batches: Collection[int]


def count_items(items: int, line_open: bool, data: bytes) -> tuple[int, bool]:
    """Add the non-blank lines that ``data`` completes to ``items``; ``line_open`` says
    whether the unterminated last line so far has content (it carries to the next chunk).
    Empty and CR-only lines are blank, as the plan reader skips them."""
    parts = data.split(b"\n")
    whole = parts[:-1]
    if whole:
        blank = whole.count(b"") + whole.count(b"\r")
        if line_open and parts[0] in (b"", b"\r"):
            blank -= 1  # it ends the line begun in an earlier chunk, which had content
        items += len(whole) - blank
        line_open = False
    return items, line_open or parts[-1].strip() != b""


def too_many_items(upload_id: str, limit: int) -> InvalidPlan:
    """The error for a plan over ``max_plan_items``."""
    return InvalidPlan(
        f"upload {upload_id}: the plan has more than {limit} items, the daemon's limit "
        "(config key max_plan_items); split it into smaller plans",
        {"limit": limit, "key": "max_plan_items"},
    )


def quota_exceeded(quota: ClientQuota, used: int) -> Unavailable:
    """The error for a client at its ``max_active_batches_per_client``."""
    return Unavailable(
        f"{quota.who} already has {used} plan uploads and active batches, the daemon's limit "
        f"per client (config key max_active_batches_per_client = {quota.limit}); wait for "
        "one to end or cancel one, then submit again",
        {"limit": quota.limit, "in_use": used, "key": "max_active_batches_per_client"},
    )
