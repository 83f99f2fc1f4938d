"""Allowed roots: the only directories whose contents batchd may change, enforced without
trusting any path component between a root and the name an operation acts on.

:meth:`PathGuard.open_parent` resolves an absolute path to an open file descriptor of its
parent directory and the final name: it opens the allowed root, then each component below it
with ``O_PATH | O_DIRECTORY | O_NOFOLLOW`` relative to the previous one. A symlink anywhere
between the root and the final name fails the walk (ELOOP or ENOTDIR) instead of leading
outside; the operation then acts on ``(dir_fd, name)`` with the ``*at`` system calls, and
never follows a final symlink either. So a symlink swapped in after the plan was validated
cannot redirect an operation: there is no window between a check and the use, the check *is*
the descent. The daemon's own trusted directories (its state directory: the undo store) are
used by plain path, and no plan path may lie inside them.

What this does not cover: a directory the walk already holds could be *renamed* out of the
root by someone with write access to both places during the operation (docs/security.md).

Children (workers, validators) learn the roots from the environment the daemon sets at start
(``BATCHD_ALLOWED_ROOTS_IN_FORCE``: JSON ``{"roots": [...], "trusted": [...]}``; absent: no
restriction).
"""

from __future__ import annotations

import errno
import json
import os
import stat
from collections.abc import Sequence
from typing import Final

ENVIRONMENT: Final = "BATCHD_ALLOWED_ROOTS_IN_FORCE"
_WALK_FLAGS: Final = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class OutsideRoots(PermissionError):
    """A path outside every allowed root, or reached through a symlink."""

    def __init__(self, path: bytes, why: str) -> None:
        super().__init__(errno.EACCES, why, os.fsdecode(path))
        self.why = why


def _inside(path: bytes, directory: bytes) -> bool:
    return path == directory or path.startswith(directory.rstrip(b"/") + b"/")


class PathGuard:
    """The allowed ``roots`` (absolute, normalized, symlink-free) and the daemon's
    ``trusted`` directories (its state directory)."""

    def __init__(self, roots: Sequence[bytes], trusted: Sequence[bytes] = ()) -> None:
        self.roots = tuple(os.path.normpath(r) for r in roots)
        self.trusted = tuple(os.path.normpath(t) for t in trusted)

    @classmethod
    def from_environment(cls) -> PathGuard | None:
        """The guard the daemon put in force for its children, or None (no restriction)."""
        raw = os.environ.get(ENVIRONMENT)
        if raw is None:
            return None
        data = json.loads(raw)
        return cls(
            [os.fsencode(r) for r in data["roots"]], [os.fsencode(t) for t in data["trusted"]]
        )

    def to_environment(self) -> str:
        """The value of ``ENVIRONMENT`` that hands this guard to child processes."""
        return json.dumps(
            {"roots": [os.fsdecode(r) for r in self.roots],
             "trusted": [os.fsdecode(t) for t in self.trusted]}
        )  # fmt: skip

    def is_trusted(self, path: bytes) -> bool:
        """True for the daemon's own directories (used by plain path)."""
        return any(_inside(path, t) for t in self.trusted)

    def root_of(self, path: bytes) -> bytes:
        """The allowed root ``path`` lies strictly inside; raises OutsideRoots."""
        if (
            not os.path.isabs(path)
            or os.path.normpath(path) != path.rstrip(b"/")
            or b"/../" in path
        ):
            raise OutsideRoots(path, "is not an absolute, normalized path")
        if self.is_trusted(path):
            raise OutsideRoots(path, "is inside batchd's own state directory")
        for root in self.roots:
            if path != root and _inside(path, root):
                return root
        if any(path == root for root in self.roots):
            raise OutsideRoots(path, "is an allowed root itself, which batchd never changes")
        if not self.roots:
            raise OutsideRoots(path, "is refused: no allowed roots are configured")
        listed = ", ".join(os.fsdecode(r) for r in self.roots)
        raise OutsideRoots(path, f"is outside the allowed roots ({listed})")

    def open_parent(self, path: bytes) -> tuple[int, bytes]:
        """An ``O_PATH`` fd of ``path``'s parent, reached from its root without following any
        symlink, and the final name. The caller closes the fd."""
        root = self.root_of(path)
        parts = [p for p in path[len(root) :].split(b"/") if p]
        fd = os.open(root, _WALK_FLAGS & ~os.O_NOFOLLOW)
        try:
            for part in parts[:-1]:
                try:
                    child = os.open(part, _WALK_FLAGS, dir_fd=fd)
                except OSError as error:
                    if error.errno in (errno.ELOOP, errno.ENOTDIR):
                        where = root + b"/" + b"/".join(parts[: parts.index(part) + 1])
                        raise OutsideRoots(
                            path,
                            f"leads through {os.fsdecode(where)}, which is not a "
                            "directory inside the root (a symlink is never followed)",
                        ) from None
                    raise
                os.close(fd)
                fd = child
        except BaseException:
            os.close(fd)
            raise
        return fd, parts[-1]

    def check_plan_path(self, path: bytes) -> str | None:
        """Why a plan may not name ``path`` (None when it may): outside the roots, or an
        existing component below the root that is a symlink (or not a directory)."""
        try:
            root = self.root_of(path)
        except OutsideRoots as error:
            return error.why
        current = root
        for part in [p for p in path[len(root) :].split(b"/") if p][:-1]:
            current = os.path.join(current, part)
            try:
                mode = os.lstat(current).st_mode
            except FileNotFoundError:
                return None  # created by an earlier line, or the plan fails on its own
            except OSError:
                return None
            if not stat.S_ISDIR(mode):
                return (
                    f"leads through {os.fsdecode(current)}, which is not a directory inside "
                    "the root (a symlink is never followed)"
                )
        return None
