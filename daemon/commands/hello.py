"""``hello``: the handshake; args `{protocol, client}`, result `{protocol, daemon_version, pid}`.

CLI: every ``batchctl`` command starts with it. A client of another protocol version never
reaches this handler: the dispatcher refuses its envelope with VERSION_MISMATCH first.
"""

from __future__ import annotations

import logging
import os

from batchd.daemon.context import DaemonContext
from batchd.protocol.codec import check_version
from batchd.protocol.messages import HelloReply, HelloRequest
from batchd.protocol.version import BATCHD_VERSION, PROTOCOL_VERSION

log = logging.getLogger(__name__)


def handle(ctx: DaemonContext, request: HelloRequest) -> HelloReply:
    """Check the stated protocol version and introduce the daemon."""
    check_version(request.protocol, "client")
    log.debug("hello from %s", request.client or "an unnamed client")
    return HelloReply(protocol=PROTOCOL_VERSION, daemon_version=BATCHD_VERSION, pid=os.getpid())
