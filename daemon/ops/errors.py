"""How the ops fail: ``OpFailed`` inside an op, and ``classify`` for raw ``OSError``.

    Exception
    └── OpFailed    raised inside an op with a user-facing one-line reason and an ErrorKind;
                    the runner turns it into a failed Outcome

A PERMANENT failure will not go away by retrying (the plan or the tree is wrong: a vanished
source, a denied permission); a TRANSIENT one may (a full disk, a busy device, a timeout).
"""

from __future__ import annotations

import errno
import os
from typing import Final

from batchd.daemon.ops.step import ErrorKind

_TRANSIENT: Final = frozenset(
    {
        errno.EAGAIN,
        errno.EBUSY,
        errno.EINTR,
        errno.ETIMEDOUT,
        errno.EIO,
        errno.EMFILE,
        errno.ENFILE,
        errno.ENOMEM,
        errno.ETXTBSY,
        errno.ESTALE,
    }
)


class OpFailed(Exception):
    """Raised inside an op when a step fails; ``message`` says what happened and what to do."""

    def __init__(self, kind: ErrorKind, message: str, diagnostics: str = "") -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.diagnostics = diagnostics


def classify(exc: OSError) -> ErrorKind:
    """NO_SPACE for a full filesystem or quota; TRANSIENT for errors a retry may cure (busy,
    I/O, out of descriptors); PERMANENT for everything else (missing, exists, denied,
    read-only, too long, loops...)."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return ErrorKind.NO_SPACE
    return ErrorKind.TRANSIENT if exc.errno in _TRANSIENT else ErrorKind.PERMANENT


def show(path: bytes | str | None) -> str:
    """A path for a message: undecodable bytes shown as surrogate escapes, never a crash."""
    if path is None:
        return "?"
    text = os.fsdecode(path)
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def describe(exc: OSError, action: str = "") -> str:
    """A one-line message for an ``OSError``: the reason, the path(s), what to do."""
    reason = os.strerror(exc.errno) if exc.errno else str(exc)
    paths = "" if exc.filename is None else f": {show(exc.filename)}"
    if exc.filename2 is not None:
        paths += f" -> {show(exc.filename2)}"
    where = f" while {action}" if action else ""
    advice = _ADVICE.get(exc.errno or 0, "")
    return f"{reason.lower()}{where}{paths}{advice}"


_ADVICE: Final = {
    errno.EACCES: " (check the permissions of the file and its directory)",
    errno.EPERM: " (check ownership, immutable flags and the daemon's privileges)",
    errno.EROFS: " (the filesystem is mounted read-only)",
    errno.ENOSPC: "; the batch pauses: free some space, then batchctl resume",
    errno.EDQUOT: "; the disk quota is exhausted: the batch pauses until batchctl resume",
}


def failed(exc: OSError, action: str = "", suffix: str = "") -> OpFailed:
    """An ``OpFailed`` for ``exc``, classified, with ``suffix`` appended to the message."""
    return OpFailed(classify(exc), describe(exc, action) + suffix)


def copy_failed(exc: OSError, src: bytes, dst: bytes) -> OpFailed:
    """Copying ``src`` to ``dst`` failed; the caller has removed its temp."""
    reason = os.strerror(exc.errno).lower() if exc.errno else str(exc)
    return OpFailed(
        classify(exc),
        f"{reason} while copying {show(src)} to {show(dst)}; the original is untouched",
    )


def refused(message: str, path: bytes) -> OpFailed:
    """A permanent failure: ``message`` about ``path``."""
    return OpFailed(ErrorKind.PERMANENT, f"{message}: {show(path)}")


def vanished(path: bytes) -> OpFailed:
    """The step's source is gone (no retry: the plan no longer fits the tree)."""
    return OpFailed(
        ErrorKind.PERMANENT, f"source vanished since the plan was validated: {show(path)}"
    )


def appeared(path: bytes) -> OpFailed:
    """Something now occupies a destination the plan expected to be free."""
    return OpFailed(
        ErrorKind.PERMANENT,
        f"destination appeared since the plan was validated: {show(path)} "
        '(use "overwrite": true to replace it)',
    )


def changed(path: bytes) -> OpFailed:
    """The step's path no longer matches the plan's fingerprint of it."""
    return OpFailed(ErrorKind.PERMANENT, f"changed since the plan was validated: {show(path)}")
