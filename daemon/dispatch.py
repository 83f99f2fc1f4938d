"""The one place where a request's bytes become a reply's bytes and exceptions become errors.

Handlers raise ``batchd.protocol.errors`` classes for expected failures; those go back to the
client with their code. Anything else is a bug: it is logged with its traceback and the client
gets ``INTERNAL`` without the details. A journal write failure is not the client's error: it
propagates and stops the daemon (journal.md: a failed fsync is fatal).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from batchd.daemon.commands import HANDLERS, Handler
from batchd.daemon.context import DaemonContext
from batchd.daemon.journal import JournalWriteError
from batchd.daemon.peers import UNKNOWN_PEER, Peer, handling_peer
from batchd.protocol.codec import (
    check_version,
    decode_request_envelope,
    encode_error,
    encode_reply,
    parse_request,
)
from batchd.protocol.errors import BatchdError, InternalError, MalformedMessage

log = logging.getLogger(__name__)

BAD_FRAMES_MESSAGE = (
    "a request is two frames, an empty delimiter then one msgpack body (or the body alone)"
)


def dispatch(
    ctx: DaemonContext,
    body: bytes | None,
    handlers: Mapping[type, Handler] = HANDLERS,
    peer: Peer = UNKNOWN_PEER,
) -> bytes:
    """Answer one request body (None: the frames had no usable layout) from ``peer``, which
    handlers see as :func:`batchd.daemon.peers.requesting_peer`."""
    with handling_peer(peer):
        return _answer(ctx, body, handlers)


def _answer(ctx: DaemonContext, body: bytes | None, handlers: Mapping[type, Handler]) -> bytes:
    request_id: int | None = None
    command = "?"
    try:
        if body is None:
            # A fresh exception each time: re-raising one shared instance chains every
            # raise onto its __traceback__, which kept frames alive forever (found by fuzzing).
            raise MalformedMessage(BAD_FRAMES_MESSAGE)
        envelope = decode_request_envelope(body)
        request_id, command = envelope.request_id, envelope.command
        check_version(envelope.version, "client")
        request = parse_request(envelope)
        return encode_reply(request_id, handlers[type(request)](ctx, request))
    except JournalWriteError:
        raise
    except BatchdError as exc:
        log.debug("request %s (%s) refused: %s", request_id, command, exc.message)
        return encode_error(request_id, exc)
    except Exception:
        log.exception("internal error while handling %r (request id %s)", command, request_id)
        error = InternalError(f"internal error while handling {command!r}; see the daemon's log")
        return encode_error(request_id, error)
