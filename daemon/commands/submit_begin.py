"""``submit_begin``: open a plan upload. CLI: ``batchctl submit PLAN`` (and the convenience
commands) start with it; the plan then streams in with ``submit_chunk``.

Limits (docs/security.md): a client — the peer's uid over ipc, its CURVE key over tcp — may
have at most ``max_active_batches_per_client`` uploads in progress plus active batches; the
plan may hold at most ``max_plan_items`` items, counted as it streams in.
"""

from __future__ import annotations

import time

from batchd.daemon.batches.upload_limits import ClientQuota
from batchd.daemon.context import DaemonContext
from batchd.daemon.peers import requesting_peer
from batchd.protocol.batch_messages import SubmitBeginReply, SubmitBeginRequest


def handle(ctx: DaemonContext, request: SubmitBeginRequest) -> SubmitBeginReply:
    """Create the upload and tell the client how big its chunks may be."""
    engine = ctx.engine
    peer = requesting_peer()
    quota = ClientQuota(
        limit=ctx.config.max_active_batches_per_client,
        who=peer.describe(),
        active_batches={batch.id for batch in engine.registry.active()},
    )
    return engine.uploads.begin(
        request,
        time.monotonic(),
        client=peer.client_key,
        max_items=ctx.config.max_plan_items,
        quota=quota,
    )
