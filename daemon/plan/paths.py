"""Turning the paths of a plan into absolute, normalized ``bytes``, or saying why not.

Normalization is lexical: ``//`` and ``.`` components collapse and ``..`` removes the
component before it without looking at the filesystem, so ``/a/link/../b`` is ``/a/b`` even
when ``link`` is a symlink (as in ``os.path.normpath`` and ``realpath -s``).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Final

NAME_MAX: Final = 255
PATH_MAX: Final = 4096  # includes the terminating NUL, so a path may have 4095 bytes
TEMP_PREFIX: Final = b".batchd-park-"
"""A routed rename's parking name. Distinct from the ops' temps (``.batchd-tmp-<batch>-
<index>``, :mod:`batchd.daemon.ops.names`): with one prefix, the temp of step ``index`` and
the parking name of plan line ``line == index`` were the same path, and an op discarding its
stale temp deleted a parked user file."""


class PathError(ValueError):
    """A plan path that cannot be used; the message completes "<field> ..."."""


def _shown(name: bytes) -> str:
    text = name[:40].decode("utf-8", "backslashreplace")
    return text + ("..." if len(name) > 40 else "")


# An empty, "." or ".." component, or the root itself.
_NOT_NORMAL: Final = re.compile(rb"//|/\.\.?(?:/|$)|^/$")


# A path that needs no normalizing: names that are neither empty, "." nor "..", without NUL.
_NAME: Final = rb"(?!\.\.?(?:/|\Z))[^/\0]+"
_PLAIN: Final = re.compile(rb"/?" + _NAME + rb"(?:/" + _NAME + rb")*\Z")


@lru_cache(maxsize=16)
def _is_plain_directory(cwd: bytes) -> bool:
    return cwd == b"" or (cwd[:1] == b"/" and _PLAIN.match(cwd) is not None)


def resolve_path(raw: bytes, cwd: bytes, *, names_target: bool) -> bytes:
    """Make ``raw`` absolute against ``cwd`` and normalize it; raise ``PathError`` if invalid.

    ``names_target`` is true for every path that is written or acted on (destinations,
    targets): those may not end in ``.`` or ``..``, which name a directory only indirectly.
    """
    # The common case in one regex: already normal, joined to a normal cwd, short enough
    # that no name can exceed NAME_MAX; the checks below would all pass.
    if _PLAIN.match(raw) is not None:
        if raw[:1] == b"/":
            if len(raw) <= NAME_MAX:
                return raw
        elif len(cwd) + len(raw) < NAME_MAX and _is_plain_directory(cwd):
            return cwd + b"/" + raw
    if not raw:
        raise PathError("is empty")
    if not raw.strip(b"/"):
        raise PathError("is the root directory '/'")
    if b"\0" in raw:
        raise PathError("contains a NUL byte")
    if raw.endswith(b"/"):
        raise PathError("ends with '/' (its final name is empty); name the file itself")
    last = raw.rpartition(b"/")[2]
    if names_target and last in (b".", b".."):
        raise PathError(f"ends with '{last.decode()}'; name the file or directory itself")
    full = raw if raw[:1] == b"/" else cwd + b"/" + raw
    if len(full) <= NAME_MAX and _NOT_NORMAL.search(full) is None:
        return full
    parts: list[bytes] = []
    for part in full.split(b"/"):
        if not part or part == b".":
            continue
        if part == b"..":
            if parts:
                parts.pop()
            continue
        if len(part) > NAME_MAX:
            raise PathError(
                f"has a name of {len(part)} bytes ({_shown(part)}); "
                f"the limit (NAME_MAX) is {NAME_MAX} bytes"
            )
        parts.append(part)
    if not parts:
        raise PathError("is the root directory '/'")
    path = b"/" + b"/".join(parts)
    if len(path) >= PATH_MAX:
        raise PathError(
            f"is {len(path)} bytes long; the limit (PATH_MAX) is {PATH_MAX} bytes "
            "including the terminating NUL"
        )
    return path if path != raw else raw


def parent_of(path: bytes) -> bytes:
    """The directory holding ``path`` (``b"/"`` for top-level names)."""
    return path.rpartition(b"/")[0] or b"/"


def temp_path(source: bytes, batch: int, line: int) -> bytes:
    """The temporary name a routed rename passes through, next to its source."""
    return source.rpartition(b"/")[0] + b"/" + TEMP_PREFIX + b"%d-%d" % (batch, line)


def is_inside(path: bytes, directory: bytes) -> bool:
    """True when ``path`` is strictly below ``directory`` (lexically)."""
    return path.startswith(directory) and path[len(directory) : len(directory) + 1] == b"/"


def shown(path: bytes) -> str:
    """A path for a message: undecodable bytes appear as ``\\xNN``."""
    return path.decode("utf-8", "backslashreplace")
