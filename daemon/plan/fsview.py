"""How the validator sees the filesystem: a two-method Protocol, the real adapter, a fake.

Validation is a pure function of the plan and of what these views answer; the daemon passes
``OsFileSystemView``, tests and benchmarks pass a ``MemoryFileSystemView``.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import Protocol

from batchd.daemon.ops.step import Fingerprint

_ABSENT_ERRNOS = frozenset({errno.ENOENT, errno.ENOTDIR, errno.ENAMETOOLONG, errno.ELOOP})


class FileSystemView(Protocol):
    """Read-only questions about absolute paths.

    Both may raise ``OSError`` for anything but absence (permission denied, I/O error); the
    validator reports that as a problem of the line that asked.
    """

    def lstat(self, path: bytes) -> Fingerprint | None:
        """What is at ``path`` without following a final symlink; None if nothing is."""
        ...

    def is_dir(self, path: bytes) -> bool:
        """True when ``path`` is a directory or a symlink to one."""
        ...


class OsFileSystemView:
    """The real filesystem, through ``os.lstat`` and ``os.stat``."""

    def lstat(self, path: bytes) -> Fingerprint | None:
        """``os.lstat``; None when the path or one of its parents does not exist."""
        try:
            return Fingerprint.of(os.lstat(path))
        except OSError as error:
            if error.errno in _ABSENT_ERRNOS:
                return None
            raise

    def is_dir(self, path: bytes) -> bool:
        """``os.stat`` follows symlinks; anything missing or broken is not a directory."""
        try:
            return stat.S_ISDIR(os.stat(path).st_mode)
        except OSError as error:
            if error.errno in _ABSENT_ERRNOS:
                return False
            raise


class MemoryFileSystemView:
    """An in-memory tree of directories, files and symlinks, for tests and benchmarks.

    Paths are absolute ``bytes``; adding an entry creates its missing parent directories.
    Symlink targets are absolute or relative to the link's directory. With ``fold_case`` the
    tree behaves like a case-insensitive mount: names that differ only in ASCII case are one.
    """

    _MAX_LINKS = 40

    def __init__(self, *, fold_case: bool = False) -> None:
        self._fold_case = fold_case
        self._entries: dict[bytes, Fingerprint] = {}
        self._targets: dict[bytes, bytes] = {}
        self._next_ino = 2
        self._entries[b"/"] = self._fingerprint(stat.S_IFDIR | 0o755, 4096)

    def _key(self, path: bytes) -> bytes:
        return path.lower() if self._fold_case else path

    def _fingerprint(self, mode: int, size: int) -> Fingerprint:
        self._next_ino += 1
        return Fingerprint(dev=1, ino=self._next_ino, size=size, mtime_ns=0, mode=mode)

    def _add(self, path: bytes, mode: int, size: int) -> None:
        if not path.startswith(b"/"):
            raise ValueError(f"not an absolute path: {path!r}")
        parent = path.rpartition(b"/")[0] or b"/"
        above = self._entries.get(self._key(parent))
        if above is None:
            self.add_dir(parent)
        elif above.kind != stat.S_IFDIR:
            raise ValueError(f"parent of {path!r} is not a directory")
        self._entries[self._key(path)] = self._fingerprint(mode, size)

    def add_dir(self, path: bytes) -> None:
        """Add a directory (and its parents)."""
        self._add(path, stat.S_IFDIR | 0o755, 4096)

    def add_file(self, path: bytes, size: int = 0) -> None:
        """Add a regular file of ``size`` bytes (and its parents)."""
        self._add(path, stat.S_IFREG | 0o644, size)

    def add_symlink(self, path: bytes, target: bytes) -> None:
        """Add a symlink to ``target`` (which need not exist)."""
        self._add(path, stat.S_IFLNK | 0o777, len(target))
        self._targets[self._key(path)] = target

    def _resolve(self, path: bytes, depth: int = 0) -> bytes | None:
        """The symlink-free key of ``path`` with every component followed; None if broken."""
        if depth > self._MAX_LINKS:
            return None
        resolved = b""
        for name in path.split(b"/"):
            if not name:
                continue
            candidate = self._key(resolved + b"/" + name)
            fingerprint = self._entries.get(candidate)
            if fingerprint is None:
                return None
            if fingerprint.kind == stat.S_IFLNK:
                target = self._targets[candidate]
                if not target.startswith(b"/"):
                    target = (resolved or b"") + b"/" + target
                followed = self._resolve(target, depth + 1)
                if followed is None:
                    return None
                candidate = followed
            resolved = b"" if candidate == b"/" else candidate
        return resolved or b"/"

    def lstat(self, path: bytes) -> Fingerprint | None:
        """The entry at ``path``; intermediate symlinks are followed, a final one is not."""
        if not self._targets:  # no symlinks: every entry's parents are directories
            return self._entries.get(self._key(path))
        parent, _, name = path.rpartition(b"/")
        if not name:
            return self._entries[b"/"]
        directory = self._resolve(parent or b"/")
        if directory is None or self._entries[directory].kind != stat.S_IFDIR:
            return None
        return self._entries.get(self._key(directory.rstrip(b"/") + b"/" + name))

    def is_dir(self, path: bytes) -> bool:
        """True for a directory or a symlink that leads to one."""
        resolved = self._resolve(path)
        return resolved is not None and self._entries[resolved].kind == stat.S_IFDIR
