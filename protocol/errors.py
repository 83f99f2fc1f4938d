"""Error codes of the wire protocol and the exception classes that carry them.

The daemon raises these; its one dispatcher turns them into error replies; the client turns
error replies back into the same classes, so a script can ``except BatchNotFound``. A code the
client does not know becomes a plain :class:`BatchdError` that keeps the code string.

    BatchdError                  base of every batchd error; ``code`` names the wire code
    ├── ProtocolError            the message itself is unusable
    │   ├── MalformedMessage     not msgpack, not a map, or a broken envelope   MALFORMED_MESSAGE
    │   ├── MessageTooLarge      over the size limit                            MESSAGE_TOO_LARGE
    │   ├── VersionMismatch      peers speak different protocol versions        VERSION_MISMATCH
    │   ├── UnknownCommand       no such command                                UNKNOWN_COMMAND
    │   └── InvalidArguments     a field is unknown, missing or of a wrong type INVALID_ARGUMENTS
    ├── BatchNotFound            no batch has that id                           BATCH_NOT_FOUND
    ├── InvalidPlan              a plan failed validation                       INVALID_PLAN
    ├── Unavailable              the daemon cannot serve this now (stopping,
    │                            journal failed); try again later               UNAVAILABLE
    ├── BatchBusy                a batch must stop before the request (rollback of a
    │                            running batch); try again once it ended        BATCH_BUSY
    ├── RollbackBlocked          newer batches changed the same paths           ROLLBACK_BLOCKED
    ├── RollbackUnavailable      no undo data: rollback disabled, or purged     ROLLBACK_UNAVAILABLE
    └── InternalError            a bug in the daemon; details are in its log    INTERNAL
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import ClassVar


class ErrorCode(enum.Enum):
    """Wire error codes; the value is the string sent on the wire."""

    MALFORMED_MESSAGE = "MALFORMED_MESSAGE"
    MESSAGE_TOO_LARGE = "MESSAGE_TOO_LARGE"
    VERSION_MISMATCH = "VERSION_MISMATCH"
    UNKNOWN_COMMAND = "UNKNOWN_COMMAND"
    INVALID_ARGUMENTS = "INVALID_ARGUMENTS"
    BATCH_NOT_FOUND = "BATCH_NOT_FOUND"
    INVALID_PLAN = "INVALID_PLAN"
    UNAVAILABLE = "UNAVAILABLE"
    BATCH_BUSY = "BATCH_BUSY"
    ROLLBACK_BLOCKED = "ROLLBACK_BLOCKED"
    ROLLBACK_UNAVAILABLE = "ROLLBACK_UNAVAILABLE"
    INTERNAL = "INTERNAL"


class BatchdError(Exception):
    """Base of every batchd error; carries a wire code, a message and optional details."""

    code: ClassVar[ErrorCode | None] = ErrorCode.INTERNAL

    def __init__(self, message: str, details: Mapping[str, object] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, object] = dict(details or {})
        self.wire_code: str = self.code.value if self.code is not None else "CLIENT"


class ProtocolError(BatchdError):
    """The message could not be understood; raised by the codec on either side."""

    code = ErrorCode.MALFORMED_MESSAGE


class MalformedMessage(ProtocolError):
    """Raised when bytes are not msgpack, not a map, or the envelope is broken."""

    code = ErrorCode.MALFORMED_MESSAGE


class MessageTooLarge(ProtocolError):
    """Raised when a message exceeds the size limit."""

    code = ErrorCode.MESSAGE_TOO_LARGE


class VersionMismatch(ProtocolError):
    """Raised when client and daemon speak different protocol versions."""

    code = ErrorCode.VERSION_MISMATCH


class UnknownCommand(ProtocolError):
    """Raised when a request names a command the daemon does not have."""

    code = ErrorCode.UNKNOWN_COMMAND


class InvalidArguments(ProtocolError):
    """Raised when a field is unknown, missing, or of the wrong type."""

    code = ErrorCode.INVALID_ARGUMENTS


class BatchNotFound(BatchdError):
    """Raised when no batch has the requested id."""

    code = ErrorCode.BATCH_NOT_FOUND


class InvalidPlan(BatchdError):
    """Raised when a plan fails validation; ``details`` lists the problems by line."""

    code = ErrorCode.INVALID_PLAN


class Unavailable(BatchdError):
    """Raised when the daemon cannot serve the request now (stopping, journal failure)."""

    code = ErrorCode.UNAVAILABLE


class BatchBusy(BatchdError):
    """Raised when a batch must stop before the request can be served (a rollback of a
    running batch: it is being cancelled, its running items finish first). ``details`` has
    ``batch`` and ``running``; try again once the batch has ended."""

    code = ErrorCode.BATCH_BUSY


class RollbackBlocked(BatchdError):
    """Raised when a newer batch changed paths that the rollback would restore: roll back
    the newer ones first (or together). ``details`` has ``batch`` and ``blocking`` (ids)."""

    code = ErrorCode.ROLLBACK_BLOCKED


class RollbackUnavailable(BatchdError):
    """Raised when no undo data exists for a batch: rollback was disabled when it ran, or
    its undo data was purged (``details`` then has ``purged_at``)."""

    code = ErrorCode.ROLLBACK_UNAVAILABLE


class InternalError(BatchdError):
    """Raised for a bug in the daemon; the traceback is logged there, never sent."""

    code = ErrorCode.INTERNAL


ECHO_LIMIT = 80
"""Longest piece of a peer's input that an error message repeats back."""


def clip(text: str, limit: int = ECHO_LIMIT) -> str:
    """Shorten a piece of untrusted input before an error message repeats it."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


_CLASS_BY_CODE: dict[str, type[BatchdError]] = {
    cls.code.value: cls
    for cls in (
        MalformedMessage,
        MessageTooLarge,
        VersionMismatch,
        UnknownCommand,
        InvalidArguments,
        BatchNotFound,
        InvalidPlan,
        Unavailable,
        BatchBusy,
        RollbackBlocked,
        RollbackUnavailable,
        InternalError,
    )
    if cls.code is not None
}


def error_from_wire(code: str, message: str, details: Mapping[str, object]) -> BatchdError:
    """Rebuild the exception for a wire error; an unknown code keeps its string."""
    cls = _CLASS_BY_CODE.get(code)
    if cls is None:
        error = BatchdError(message, details)
        error.wire_code = code
        return error
    return cls(message, details)
