"""The composite file operations of :class:`~batchd.daemon.ops.fs.FileSystem`: copying and
removing whole files and trees, built only from its hooked primitives (so a crash harness
sees every syscall they make, and the allowed-roots guard applies to each of them)."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from typing import Final, Protocol

_COPY_CHUNK: Final = 1 << 20


class Primitives(Protocol):
    """The hooked syscalls of FileSystem the composites are built from (and the composites
    themselves, which call each other)."""

    def lstat(self, path: bytes) -> os.stat_result: ...
    def fstat(self, fd: int) -> os.stat_result: ...
    def listdir(self, path: bytes) -> list[bytes]: ...
    def readlink(self, path: bytes) -> bytes: ...
    def open(self, path: bytes, flags: int, mode: int = 0o600) -> int: ...
    def copy_range(self, src_fd: int, dst_fd: int, size: int) -> int: ...
    def fsync(self, fd: int) -> None: ...
    def fchmod(self, fd: int, mode: int) -> None: ...
    def fchown(self, fd: int, uid: int, gid: int) -> None: ...
    def futime(self, fd: int, atime_ns: int, mtime_ns: int) -> None: ...
    def unlink(self, path: bytes) -> None: ...
    def mkdir(self, path: bytes, mode: int = 0o777) -> None: ...
    def rmdir(self, path: bytes) -> None: ...
    def symlink(self, target: bytes, path: bytes) -> None: ...
    def chmod(self, path: bytes, mode: int) -> None: ...
    def lchown(self, path: bytes, uid: int, gid: int) -> None: ...
    def utime(self, path: bytes, atime_ns: int, mtime_ns: int) -> None: ...
    def fsync_dir(self, path: bytes) -> None: ...
    def copy_file(self, src: bytes, dst: bytes) -> os.stat_result: ...
    def copy_tree(self, src: bytes, dst: bytes) -> None: ...
    def remove_tree(self, path: bytes) -> None: ...
    def _copy_owner_fd(self, fd: int, info: os.stat_result) -> None: ...


class TreeOperations:
    """Mixed into FileSystem; every method runs on its Primitives."""

    def copy_file(self: Primitives, src: bytes, dst: bytes) -> os.stat_result:
        """Copy a regular file to a new ``dst`` (O_EXCL): content, mode, owner (as root),
        mtime; fsynced. Returns the source's ``fstat`` taken before reading."""
        src_fd = self.open(src, os.O_RDONLY | os.O_NOFOLLOW)
        try:
            info = self.fstat(src_fd)
            if not stat.S_ISREG(info.st_mode):
                raise OSError(errno.EINVAL, "not a regular file", src)
            dst_fd = self.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                while self.copy_range(src_fd, dst_fd, _COPY_CHUNK):
                    pass
                self._copy_owner_fd(dst_fd, info)
                self.fchmod(dst_fd, info.st_mode)
                self.futime(dst_fd, info.st_atime_ns, info.st_mtime_ns)
                self.fsync(dst_fd)
            finally:
                os.close(dst_fd)
        finally:
            os.close(src_fd)
        return info

    def copy_tree(self: Primitives, src: bytes, dst: bytes) -> None:
        """Copy a file, symlink (as a link, never followed) or directory tree to a new ``dst``,
        keeping modes, mtimes and (as root) owners; every file and directory is fsynced.
        Hard links inside a tree become separate files. Special files raise EOPNOTSUPP."""
        info = self.lstat(src)
        if stat.S_ISREG(info.st_mode):
            self.copy_file(src, dst)
        elif stat.S_ISLNK(info.st_mode):
            self.symlink(self.readlink(src), dst)
            if os.geteuid() == 0:
                self.lchown(dst, info.st_uid, info.st_gid)
            self.utime(dst, info.st_atime_ns, info.st_mtime_ns)
        elif stat.S_ISDIR(info.st_mode):
            self.mkdir(dst, 0o700)
            for name in self.listdir(src):
                self.copy_tree(os.path.join(src, name), os.path.join(dst, name))
            if os.geteuid() == 0:
                self.lchown(dst, info.st_uid, info.st_gid)
            self.chmod(dst, info.st_mode)
            self.utime(dst, info.st_atime_ns, info.st_mtime_ns)
            self.fsync_dir(dst)
        else:
            raise OSError(errno.EOPNOTSUPP, "cannot copy a special file", src)

    def remove_tree(self: Primitives, path: bytes) -> None:
        """Remove a file, symlink or whole directory tree (symlinks are never followed)."""
        if not stat.S_ISDIR(self.lstat(path).st_mode):
            self.unlink(path)
            return
        for name in self.listdir(path):
            self.remove_tree(os.path.join(path, name))
        self.rmdir(path)

    def discard(self: Primitives, path: bytes) -> None:
        """Remove ``path`` (any kind) if it exists: for our own temp files."""
        with contextlib.suppress(FileNotFoundError):
            self.remove_tree(path)

    def _copy_owner_fd(self: Primitives, fd: int, info: os.stat_result) -> None:
        """As root, give a copy the original's owner; others cannot, and keep their own."""
        if os.geteuid() == 0:
            self.fchown(fd, info.st_uid, info.st_gid)
