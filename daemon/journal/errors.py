"""Errors of the append-only journal.

Each class carries a wire error code like every daemon error, so the one dispatcher can answer
a request that hit a journal failure (``UNAVAILABLE``) without knowing journal internals.

    BatchdError (batchd.protocol.errors)
    └── JournalError                 base of every journal error                     INTERNAL
        ├── JournalCorrupt           recovery found damage it must not repair silently: a bad
        │   │                        record followed by later valid records (a corrupt middle),
        │   │                        a bad segment header, a missing segment or an LSN gap;
        │   │                        ``segment`` and ``offset`` say where           INTERNAL
        │   └── UnsupportedJournalFormat
        │                            a checksum-valid segment or record this build cannot
        │                            read: a newer format version or an unknown record type
        │                                                                           INTERNAL
        ├── JournalWriteError        appending or committing failed; after a failed fsync or
        │                            a failed truncate-back the journal refuses all further
        │                            appends (``fatal`` is True) and the daemon must exit and
        │                            recover on restart                             UNAVAILABLE
        └── CheckpointCorrupt        a checkpoint file is cut short, fails a checksum or does
            │                        not decode; start-up falls back to the previous one
            │                        (``path`` names the file)                      INTERNAL
            └── UnsupportedCheckpoint
                                     a checksum-valid checkpoint of a newer format version;
                                     start-up refuses it ("upgrade batchd")         INTERNAL
"""

from __future__ import annotations

from pathlib import Path

from batchd.protocol.errors import BatchdError, ErrorCode


class JournalError(BatchdError):
    """Base of every journal error."""

    code = ErrorCode.INTERNAL


class JournalCorrupt(JournalError):
    """Raised by recovery for damage that is not a torn tail; names the file and byte offset."""

    code = ErrorCode.INTERNAL

    def __init__(self, message: str, segment: Path, offset: int) -> None:
        super().__init__(message, {"segment": str(segment), "offset": offset})
        self.segment = segment
        self.offset = offset


class UnsupportedJournalFormat(JournalCorrupt):
    """Raised when a valid segment or record uses a format version or record type unknown here."""


class JournalWriteError(JournalError):
    """Raised when an append or a commit fails; ``fatal`` means the journal is now unusable."""

    code = ErrorCode.UNAVAILABLE

    def __init__(self, message: str, *, fatal: bool) -> None:
        super().__init__(message, {"fatal": fatal})
        self.fatal = fatal


class CheckpointCorrupt(JournalError):
    """Raised when a checkpoint file is damaged or cut short; ``path`` names it."""

    code = ErrorCode.INTERNAL

    def __init__(self, message: str, path: Path) -> None:
        super().__init__(message, {"path": str(path)})
        self.path = path


class UnsupportedCheckpoint(CheckpointCorrupt):
    """Raised for a valid checkpoint written in a format version this build cannot read."""
