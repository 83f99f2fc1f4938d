"""What the HTTP gateway accepts and answers: routes, request bodies, JSON documents, statuses.

Pure functions of the request line, the body and the client's replies or errors; no sockets,
so every rule is tested without a server. :mod:`batchd.client.http_gateway` serves them. The
endpoints are the seed's (contract.md, "The seed's HTTP endpoints"); docs/http-gateway.md is
the reference for users.

    GET  /api/batch-progress/{operation_id}        → {"total", "completed", "failed",
                                                      "progress", "eta"}
    POST /api/resume-operation {"operation_id": N} → the same progress document
    POST /api/rollback {"operation_id": N}         → {"operation_id", "rollback_id", "state"}

Every error is ``{"error": {"code": CODE, "message": TEXT}}``: the daemon's wire code
(``BATCH_NOT_FOUND``, ...) when the daemon refused, a gateway code otherwise. An operation id
is a batch id.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from batchd.client.errors import ClientError, DaemonTimeout, DaemonUnreachable
from batchd.protocol.batch_messages import BatchProgress
from batchd.protocol.errors import (
    BatchBusy,
    BatchdError,
    BatchNotFound,
    InvalidArguments,
    RollbackBlocked,
    RollbackUnavailable,
    Unavailable,
)

MAX_OPERATION_ID = 2**63 - 1
"""The largest id the wire protocol carries (section 3.1 of docs/protocol.md)."""

MAX_BODY_BYTES = 64 * 1024
"""A POST body larger than this is refused with 413; the real ones are a few bytes."""

PROGRESS_PREFIX = "/api/batch-progress/"
PROGRESS_KEYS = ("total", "completed", "failed", "progress", "eta")
"""The seed's progress document, exactly these keys."""

JsonDocument = dict[str, object]


class Endpoint(enum.Enum):
    """The three endpoints of the seed."""

    BATCH_PROGRESS = "batch-progress"
    RESUME_OPERATION = "resume-operation"
    ROLLBACK = "rollback"


_POST_PATHS = {
    "/api/resume-operation": Endpoint.RESUME_OPERATION,
    "/api/rollback": Endpoint.ROLLBACK,
}


class HttpProblem(Exception):
    """An error answer of the gateway: HTTP status, error code and a message for people.

    Raised by the parsing functions here and by :func:`problem_for` for the client's errors;
    never sent on the ZeroMQ wire. ``allow`` lists the methods for a 405.
    """

    def __init__(self, status: int, code: str, message: str, allow: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.allow = allow

    def document(self) -> JsonDocument:
        """The JSON error document."""
        return error_document(self.code, self.message)


@dataclass(frozen=True, slots=True)
class Route:
    """A request matched to an endpoint; ``operation_id`` is set when it came in the path."""

    endpoint: Endpoint
    operation_id: int | None = None


def route(method: str, target: str) -> Route:
    """The endpoint a request line names; raises HttpProblem 404, 405 or 400 (a bad id)."""
    path = urlsplit(target).path
    if path.startswith(PROGRESS_PREFIX):
        text = path.removeprefix(PROGRESS_PREFIX)
        if not text or "/" in text:
            raise _not_found(path)
        _check_method(method, ("GET", "HEAD"), path)
        return Route(Endpoint.BATCH_PROGRESS, _path_operation_id(text))
    endpoint = _POST_PATHS.get(path)
    if endpoint is None:
        raise _not_found(path)
    _check_method(method, ("POST",), path)
    return Route(endpoint)


def parse_operation_id(body: bytes) -> int:
    """The ``operation_id`` of a POST body ``{"operation_id": N}``; raises HttpProblem 400."""
    try:
        document = json.loads(body.decode("utf-8"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise _bad_body(f"the body is not JSON ({exc})") from None
    if not isinstance(document, dict):
        raise _bad_body(f"the body is a JSON {type(document).__name__}, not an object")
    unknown = sorted(set(document) - {"operation_id"})
    if unknown:
        raise _bad_body(f"unknown field {', '.join(map(repr, unknown))}")
    if "operation_id" not in document:
        raise _bad_body("the field 'operation_id' is missing")
    value = document["operation_id"]
    if not isinstance(value, int) or isinstance(value, bool):
        raise _bad_body(f"operation_id must be an integer, got {json.dumps(value)}")
    return _checked_range(value)


def progress_document(progress: BatchProgress) -> JsonDocument:
    """The seed's progress shape: total, completed, failed, progress (0 … 1), eta (s or null)."""
    return {key: getattr(progress, key) for key in PROGRESS_KEYS}


def rollback_document(operation_id: int, rollback_id: int | None, state: str) -> JsonDocument:
    """The answer to a rollback: which batch undoes the operation, and the operation's state."""
    return {"operation_id": operation_id, "rollback_id": rollback_id, "state": state}


def error_document(code: str, message: str) -> JsonDocument:
    """``{"error": {"code": ..., "message": ...}}``."""
    return {"error": {"code": code, "message": message}}


def problem_for(error: BatchdError) -> HttpProblem:
    """The HTTP answer to an error of the client or the daemon.

    404 for an unknown batch; 409 when the batch's state forbids the request (resume of a
    batch that is not paused, a rollback that is blocked, busy or has no undo data); 503 when
    the daemon cannot be reached or is starting or stopping; 502 for anything else the daemon
    or the connection to it got wrong (another protocol version, an unreadable reply, a bug).
    """
    status = 502
    if isinstance(error, BatchNotFound):
        status = 404
    elif isinstance(error, InvalidArguments | BatchBusy | RollbackBlocked | RollbackUnavailable):
        status = 409
    elif isinstance(error, DaemonUnreachable | Unavailable):
        status = 503
    return HttpProblem(status, _code_of(error), error.message)


def _code_of(error: BatchdError) -> str:
    if not isinstance(error, ClientError):
        return error.wire_code
    if isinstance(error, DaemonTimeout):
        return "DAEMON_TIMEOUT"
    if isinstance(error, DaemonUnreachable):
        return "DAEMON_UNREACHABLE"
    return "CLIENT_ERROR"


def _check_method(method: str, allowed: tuple[str, ...], path: str) -> None:
    if method not in allowed:
        raise HttpProblem(
            405,
            "METHOD_NOT_ALLOWED",
            f"{method} is not allowed on {path}; use {' or '.join(allowed)}",
            allowed,
        )


def _path_operation_id(text: str) -> int:
    if not (text.isascii() and text.isdigit()):
        raise HttpProblem(
            400, "INVALID_OPERATION_ID", f"not an operation id: {text!r} (expected an integer)"
        )
    if len(text) > len(str(MAX_OPERATION_ID)):
        # Refused before int(): Python will not convert more than 4300 digits.
        raise HttpProblem(400, "INVALID_OPERATION_ID", f"operation id {text[:24]}… is too large")
    return _checked_range(int(text))


def _checked_range(value: int) -> int:
    if not 0 <= value <= MAX_OPERATION_ID:
        raise HttpProblem(
            400,
            "INVALID_OPERATION_ID",
            f"operation_id {value} is out of range (0 to {MAX_OPERATION_ID})",
        )
    return value


def _not_found(path: str) -> HttpProblem:
    return HttpProblem(
        404,
        "NOT_FOUND",
        f"no endpoint {path}; the gateway serves GET {PROGRESS_PREFIX}{{operation_id}}, "
        "POST /api/resume-operation and POST /api/rollback",
    )


def _bad_body(reason: str) -> HttpProblem:
    return HttpProblem(
        400, "INVALID_BODY", f'{reason}; send a JSON object like {{"operation_id": 7}}'
    )


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not a number JSON allows")


def headers_for(problem: HttpProblem) -> Mapping[str, str]:
    """Extra response headers of an error answer (``Allow`` for a 405)."""
    return {"Allow": ", ".join(problem.allow)} if problem.allow else {}
