"""The unit of work every part of batchd agrees on: a Step, and the Outcome of running it.

The plan validator turns plan lines into Steps (absolute paths, dependencies resolved); the
scheduler hands chunks of Steps to the executor; a worker runs each Step with the op of its
kind and reports an Outcome; the journal records both (later: INTENT and DONE records). Paths
are ``bytes`` (``os.fsencode``) so that names that are not valid UTF-8 survive every hop.

Steps and Outcomes cross process boundaries as msgpack arrays (``to_row``/``from_row``), which
are about three times cheaper to encode and decode than maps.
"""

from __future__ import annotations

import enum
import os
import stat
from dataclasses import dataclass
from typing import Final, cast


class OpKind(enum.IntEnum):
    """What a step does; the value is its compact code in rows."""

    MOVE = 1
    COPY = 2
    DELETE = 3
    MKDIR = 4
    TRANSFORM = 5
    CHECKSUM = 6
    CALL = 7
    RESTORE = 8
    RMDIR = 9


class ErrorKind(enum.IntEnum):
    """How a failed step should be treated: retried later, or failed for good."""

    NONE = 0
    TRANSIENT = 1
    PERMANENT = 2
    NO_SPACE = 3
    """A full filesystem or quota (ENOSPC, EDQUOT): the batch pauses until space is freed
    and it is resumed, instead of burning its retries."""


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """What a path held at one moment: enough to tell whether anyone changed it since.

    ``kind`` is the file-type bits of ``st_mode`` (``stat.S_IFMT``), so a regular file, a
    directory and a symlink never compare equal.
    """

    dev: int
    ino: int
    size: int
    mtime_ns: int
    mode: int

    @classmethod
    def of(cls, info: os.stat_result) -> Fingerprint:
        """Fingerprint an ``os.lstat`` result."""
        return cls(info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_mode)

    @property
    def kind(self) -> int:
        """The file-type bits (S_IFREG, S_IFDIR, S_IFLNK, ...)."""
        return stat.S_IFMT(self.mode)

    def same_inode(self, other: Fingerprint) -> bool:
        """True when both name the same inode (renames keep it; a rewrite does not)."""
        return (self.dev, self.ino) == (other.dev, other.ino)

    def to_row(self) -> list[int]:
        """Compact array form."""
        return [self.dev, self.ino, self.size, self.mtime_ns, self.mode]

    @classmethod
    def from_row(cls, row: list[int]) -> Fingerprint:
        """Inverse of ``to_row``."""
        dev, ino, size, mtime_ns, mode = row
        return cls(dev, ino, size, mtime_ns, mode)


ABSENT: Final = Fingerprint(0, 0, 0, 0, 0)
"""The expected pre-state "nothing was there" (a journaled INTENT with inode 0): a path
matches it only while it is absent; when something is there, the op's ``converged`` decides
(a mkdir whose interrupted run created the directory reports it as created)."""


@dataclass(frozen=True, slots=True)
class Step:
    """One operation of a batch, ready to run: absolute paths, options, position.

    ``index`` is the step's position in the batch (0-based, unique, stable across restarts);
    ``line`` the 1-based plan line it came from (a plan line routed through a temporary name
    yields several steps with the same line). ``path`` is the source for move/copy and the
    target for every other op; ``dest`` is the destination of move/copy. ``size`` is the
    source's size when known (big items start first), else 0. ``timeout`` is the item's own
    time limit in seconds from the plan (transform, call), 0 for the configured default.
    ``digest`` (rollback steps) is the content digest ``path`` must still have
    (:func:`batchd.daemon.ops.content.content_digest`); empty: not checked.

    Rollback steps use two kinds of their own: RESTORE puts the undo-store entry ``dest``
    back at ``path`` (``overwrite``: whatever is at ``path`` now is kept in this batch's own
    store, then replaced; otherwise ``path`` must be absent), RMDIR removes the empty
    directory ``path``.
    """

    index: int
    line: int
    op: OpKind
    path: bytes
    dest: bytes | None = None
    overwrite: bool = False
    command: tuple[str, ...] = ()
    algorithm: str = ""
    handler: str = ""
    args: bytes = b""
    size: int = 0
    timeout: float = 0.0
    digest: bytes = b""

    def to_row(self) -> list[object]:
        """Compact array form (field order is part of the plan-store format)."""
        return [
            self.index,
            self.line,
            int(self.op),
            self.path,
            self.dest,
            self.overwrite,
            list(self.command),
            self.algorithm,
            self.handler,
            self.args,
            self.size,
            self.timeout,
            self.digest,
        ]

    @classmethod
    def from_row(cls, row: list[object]) -> Step:
        """Inverse of ``to_row``; rows come from our own files and workers, so only the
        arity is checked here (a wrong type fails loudly where it is used)."""
        if len(row) == STEP_FIELDS - 1:  # written before steps had a digest
            row = [*row, b""]
        if len(row) != STEP_FIELDS:
            raise ValueError(f"a step row has {STEP_FIELDS} fields, got {len(row)}")
        (index, line, op, path, dest, overwrite, command, algorithm, handler, args, size,
         timeout, digest) = cast(_StepRow, row)  # fmt: skip
        return cls(
            index, line, OpKind(op), path, dest, overwrite, tuple(command), algorithm,
            handler, args, size, float(timeout), digest,
        )  # fmt: skip


_StepRow = tuple[
    int, int, int, bytes, bytes | None, bool, list[str], str, str, bytes, int, float, bytes
]
STEP_FIELDS: Final = 13


@dataclass(frozen=True, slots=True)
class Outcome:
    """What running one step did.

    ``ok`` with ``error_kind`` NONE on success; otherwise ``error`` is a one-line reason a user
    can act on ("source vanished since the plan was validated", "transform exited with status
    1", "timed out after 30 s", "memory limit exceeded (612 MiB > 512 MiB)"). ``result`` holds
    the checksum's hex digest or a handler's short result. ``post`` fingerprints what the step
    left at its target (None when nothing is left, as after delete). ``diagnostics`` is bounded
    captured stderr of a command. ``digest`` is the content digest of a regular file left
    at the target (small files, with rollback on; empty otherwise): a rollback compares it to
    notice an edit that kept size and times.
    """

    index: int
    ok: bool
    error_kind: ErrorKind = ErrorKind.NONE
    error: str = ""
    result: str = ""
    post: Fingerprint | None = None
    diagnostics: str = ""
    digest: bytes = b""

    def to_row(self) -> list[object]:
        """Compact array form."""
        post = self.post.to_row() if self.post is not None else None
        return [
            self.index,
            self.ok,
            int(self.error_kind),
            self.error,
            self.result,
            post,
            self.diagnostics,
            self.digest,
        ]

    @classmethod
    def from_row(cls, row: list[object]) -> Outcome:
        """Inverse of ``to_row``."""
        index, ok, kind, error, result, post, diagnostics, digest = cast(_OutcomeRow, row)
        fingerprint = Fingerprint.from_row(post) if post is not None else None
        return cls(index, ok, ErrorKind(kind), error, result, fingerprint, diagnostics, digest)

    @classmethod
    def failure(cls, index: int, kind: ErrorKind, error: str, diagnostics: str = "") -> Outcome:
        """A failed outcome."""
        return cls(index, False, kind, error, diagnostics=diagnostics)


_OutcomeRow = tuple[int, bool, int, str, str, list[int] | None, str, bytes]
