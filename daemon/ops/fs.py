"""The one wrapper every file syscall of the ops goes through.

Each method calls ``self.hook(name, *paths)`` immediately before its system call, so a crash
harness can count the hook points of a workload and then kill the process at the Nth one
(``os._exit`` inside the hook): every side effect of an op sits behind a hook call. Composite
helpers (``copy_file``, ``copy_tree``, ``remove_tree``: :mod:`.fs_trees`; ``fsync_dir``) are
built only from the hooked primitives. Nothing is translated here: ``OSError`` propagates to the op.

Paths are ``bytes`` (``os.fsencode``) so that names that are not valid UTF-8 survive.

With a :class:`~batchd.daemon.ops.roots.PathGuard` (allowed roots configured), every path is
resolved to ``(parent dir fd, name)`` by a walk that never follows a symlink, and the syscall
is its ``*at`` form on that fd (``_at``): a path outside the roots, or through a symlink, fails
with :class:`~batchd.daemon.ops.roots.OutsideRoots` and nothing is touched. Without a guard the
plain path calls are used (``AT_FDCWD``).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import stat
from collections.abc import Iterator
from typing import Any, Final, Protocol

from batchd.daemon.ops.fs_trees import TreeOperations
from batchd.daemon.ops.roots import PathGuard

_RENAME_NOREPLACE: Final = 1
_AT_FDCWD: Final = -100
_COPY_CHUNK: Final = 1 << 20


class Hook(Protocol):
    """Called as ``hook(name, *paths)`` right before each syscall; may raise or ``os._exit``."""

    def __call__(self, name: str, *paths: bytes) -> None:
        """Observe (or interrupt) the syscall ``name`` about to act on ``paths``."""


def no_hook(name: str, *paths: bytes) -> None:
    """The default hook: does nothing."""


def _load_renameat2() -> Any:
    """Find glibc's ``renameat2`` (glibc >= 2.28); None when libc lacks it."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None
    function = getattr(libc, "renameat2", None)
    if function is None:
        return None
    function.argtypes = [
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_uint,
    ]
    function.restype = ctypes.c_int
    return function


_renameat2 = _load_renameat2()


class FileSystem(TreeOperations):
    """File syscalls of the ops, each preceded by ``hook(name, *paths)``.

    ``use_renameat2=False`` forces the link+unlink fallback of :meth:`rename_noreplace` (the
    path taken where the kernel or filesystem refuses ``RENAME_NOREPLACE``), for tests.
    """

    def __init__(
        self,
        hook: Hook = no_hook,
        *,
        use_renameat2: bool = True,
        share_dir_syncs: bool = False,
        guard: PathGuard | None = None,
    ) -> None:
        self.hook = hook
        self.guard = guard
        self._use_renameat2 = use_renameat2 and _renameat2 is not None
        self._share_dir_syncs = share_dir_syncs
        self._pending_dirs: dict[bytes, None] = {}

    @contextlib.contextmanager
    def _at(self, path: bytes) -> Iterator[tuple[int | None, bytes]]:
        """``(dir_fd, name)`` to act on ``path``: its parent reached without symlinks under
        the guard, else ``(None, path)`` (a plain path call)."""
        guard = self.guard
        if guard is None or guard.is_trusted(path) or path in guard.roots:
            yield None, path  # a root itself is only ever synced or looked at
            return
        fd, name = guard.open_parent(path)
        try:
            yield fd, name
        finally:
            os.close(fd)

    # --- reading metadata -------------------------------------------------------------------

    def lstat(self, path: bytes) -> os.stat_result:
        """``os.lstat``: never follows a final symlink."""
        self.hook("lstat", path)
        if self.guard is None:  # the common case, without the cost of ``_at``
            return os.lstat(path)
        with self._at(path) as (fd, name):
            return os.stat(name, dir_fd=fd, follow_symlinks=False)

    def fstat(self, fd: int) -> os.stat_result:
        """``os.fstat``."""
        self.hook("fstat")
        return os.fstat(fd)

    def exists(self, path: bytes) -> bool:
        """True when ``path`` names anything (a dangling symlink counts)."""
        try:
            self.lstat(path)
        except FileNotFoundError:
            return False
        return True

    def listdir(self, path: bytes) -> list[bytes]:
        """``os.listdir`` of a directory, sorted for determinism."""
        self.hook("listdir", path)
        if self.guard is None or self.guard.is_trusted(path) or path in self.guard.roots:
            return sorted(os.listdir(path))
        with self._at(path) as (fd, name):
            directory = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
        try:
            return sorted(os.fsencode(name) for name in os.listdir(directory))
        finally:
            os.close(directory)

    def readlink(self, path: bytes) -> bytes:
        """``os.readlink``."""
        self.hook("readlink", path)
        with self._at(path) as (fd, name):
            return os.readlink(name, dir_fd=fd)

    # --- file descriptors -------------------------------------------------------------------

    def open(self, path: bytes, flags: int, mode: int = 0o600) -> int:
        """``os.open`` with ``O_CLOEXEC`` added (and ``O_NOFOLLOW`` under a guard)."""
        self.hook("open", path)
        if self.guard is None:
            return os.open(path, flags | os.O_CLOEXEC, mode)
        if not self.guard.is_trusted(path) and path not in self.guard.roots:
            flags |= os.O_NOFOLLOW
        with self._at(path) as (fd, name):
            return os.open(name, flags | os.O_CLOEXEC, mode, dir_fd=fd)

    def read(self, fd: int, size: int) -> bytes:
        """``os.read``."""
        self.hook("read")
        return os.read(fd, size)

    def write_all(self, fd: int, data: bytes) -> None:
        """Write all of ``data``, looping on short writes."""
        self.hook("write")
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            if written <= 0:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            view = view[written:]

    def fsync(self, fd: int) -> None:
        """``os.fsync``."""
        self.hook("fsync")
        os.fsync(fd)

    def fdatasync(self, fd: int) -> None:
        """``os.fdatasync``."""
        self.hook("fdatasync")
        os.fdatasync(fd)

    def fchmod(self, fd: int, mode: int) -> None:
        """``os.fchmod`` (permission bits only)."""
        self.hook("fchmod")
        os.fchmod(fd, stat.S_IMODE(mode))

    def fchown(self, fd: int, uid: int, gid: int) -> None:
        """``os.fchown``."""
        self.hook("fchown")
        os.fchown(fd, uid, gid)

    def futime(self, fd: int, atime_ns: int, mtime_ns: int) -> None:
        """Set an open file's times (before its fsync, so they are durable with it)."""
        self.hook("futime")
        os.utime(fd, ns=(atime_ns, mtime_ns))

    def close(self, fd: int) -> None:
        """``os.close``."""
        self.hook("close")
        os.close(fd)

    def copy_range(self, src_fd: int, dst_fd: int, size: int) -> int:
        """Copy up to ``size`` bytes between the fds' offsets; returns the count (0 at EOF).

        ``copy_file_range`` where the kernel allows it (reflinks on btrfs/xfs, in-kernel copy
        elsewhere), else ``sendfile``, else read+write.
        """
        self.hook("copy_range")
        try:
            return os.copy_file_range(src_fd, dst_fd, size)
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
                raise
        try:
            return os.sendfile(dst_fd, src_fd, None, size)
        except OSError as exc:
            if exc.errno not in (errno.ENOSYS, errno.EINVAL):
                raise
        data = os.read(src_fd, size)
        view = memoryview(data)
        while view:
            view = view[os.write(dst_fd, view) :]
        return len(data)

    # --- names --------------------------------------------------------------------------------

    def rename(self, src: bytes, dst: bytes) -> None:
        """``os.rename``: atomically replaces ``dst`` when it exists."""
        self.hook("rename", src, dst)
        with self._at(src) as (src_fd, src_name), self._at(dst) as (dst_fd, dst_name):
            os.rename(src_name, dst_name, src_dir_fd=src_fd, dst_dir_fd=dst_fd)

    def rename_noreplace(self, src: bytes, dst: bytes) -> None:
        """Rename, failing with EEXIST when ``dst`` exists: ``renameat2(RENAME_NOREPLACE)``.

        Where the kernel or filesystem refuses the flag (EINVAL/ENOSYS), a non-directory is
        moved by ``link`` + ``unlink`` (link fails with EEXIST, so nothing is clobbered; a crash
        between them leaves both names on one inode) and a directory by check-then-rename
        (a race window that only the fallback has).
        """
        self.hook("rename_noreplace", src, dst)
        if self.guard is None:
            self._rename_noreplace_at(src, dst, (None, src), (None, dst))
            return
        with self._at(src) as src_at, self._at(dst) as dst_at:
            self._rename_noreplace_at(src, dst, src_at, dst_at)

    def _rename_noreplace_at(
        self, src: bytes, dst: bytes, src_at: tuple[int | None, bytes],
        dst_at: tuple[int | None, bytes],
    ) -> None:  # fmt: skip
        (src_fd, src_name), (dst_fd, dst_name) = src_at, dst_at
        if self._use_renameat2 and _renameat2 is not None:
            at_src = _AT_FDCWD if src_fd is None else src_fd
            at_dst = _AT_FDCWD if dst_fd is None else dst_fd
            if _renameat2(at_src, src_name, at_dst, dst_name, _RENAME_NOREPLACE) == 0:
                return
            code = ctypes.get_errno()
            if code not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
                raise OSError(code, os.strerror(code), src, None, dst)
        info = os.stat(src_name, dir_fd=src_fd, follow_symlinks=False)
        if stat.S_ISDIR(info.st_mode):
            try:
                os.stat(dst_name, dir_fd=dst_fd, follow_symlinks=False)
            except FileNotFoundError:
                os.rename(src_name, dst_name, src_dir_fd=src_fd, dst_dir_fd=dst_fd)
                return
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), src, None, dst)
        os.link(src_name, dst_name, src_dir_fd=src_fd, dst_dir_fd=dst_fd,
                follow_symlinks=False)  # fmt: skip
        os.unlink(src_name, dir_fd=src_fd)

    def link(self, src: bytes, dst: bytes) -> None:
        """Hard link ``dst`` to ``src``'s inode; a symlink is linked itself, never followed."""
        self.hook("link", src, dst)
        with self._at(src) as (src_fd, src_name), self._at(dst) as (dst_fd, dst_name):
            os.link(src_name, dst_name, src_dir_fd=src_fd, dst_dir_fd=dst_fd,
                    follow_symlinks=False)  # fmt: skip

    def unlink(self, path: bytes) -> None:
        """``os.unlink``."""
        self.hook("unlink", path)
        with self._at(path) as (fd, name):
            os.unlink(name, dir_fd=fd)

    def mkdir(self, path: bytes, mode: int = 0o777) -> None:
        """``os.mkdir`` (the umask applies)."""
        self.hook("mkdir", path)
        with self._at(path) as (fd, name):
            os.mkdir(name, mode, dir_fd=fd)

    def rmdir(self, path: bytes) -> None:
        """``os.rmdir``."""
        self.hook("rmdir", path)
        with self._at(path) as (fd, name):
            os.rmdir(name, dir_fd=fd)

    def symlink(self, target: bytes, path: bytes) -> None:
        """Create symlink ``path`` pointing at ``target``."""
        self.hook("symlink", path)
        with self._at(path) as (fd, name):
            os.symlink(target, name, dir_fd=fd)

    def chmod(self, path: bytes, mode: int) -> None:
        """Set permission bits without following a symlink (Linux links have no mode: no-op)."""
        self.hook("chmod", path)
        with self._at(path) as (fd, name):
            if stat.S_ISLNK(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode):
                return
            if fd is None:
                os.chmod(name, stat.S_IMODE(mode))
                return
            # fchmodat cannot refuse a symlink on Linux: chmod the object we opened instead
            target = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
            try:
                os.fchmod(target, stat.S_IMODE(mode))
            finally:
                os.close(target)

    def lchown(self, path: bytes, uid: int, gid: int) -> None:
        """``os.lchown``: the owner of the name itself, never a symlink's target."""
        self.hook("lchown", path)
        with self._at(path) as (fd, name):
            os.chown(name, uid, gid, dir_fd=fd, follow_symlinks=False)

    def utime(self, path: bytes, atime_ns: int, mtime_ns: int) -> None:
        """Set times without following a symlink."""
        self.hook("utime", path)
        with self._at(path) as (fd, name):
            os.utime(name, ns=(atime_ns, mtime_ns), dir_fd=fd, follow_symlinks=False)

    def fsync_dir(self, path: bytes) -> None:
        """fsync a directory so that names created or removed in it survive a crash."""
        fd = self.open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            self.fsync(fd)
        finally:
            os.close(fd)

    def fsync_parent(self, path: bytes) -> None:
        """fsync the directory holding ``path``."""
        self.fsync_dir(os.path.dirname(path) or b".")

    def fsync_parent_before_report(self, path: bytes) -> None:
        """Make the name change of ``path`` durable before the step's outcome is reported.

        With ``share_dir_syncs`` (the worker's file system) the directory is noted and synced
        once, in ``sync_pending``, for all steps whose outcomes go out together (journal.md:
        "share directory fsyncs between independent items of a group"); else synced now.
        """
        self.fsync_dir_before_report(os.path.dirname(path) or b".")

    def fsync_dir_before_report(self, directory: bytes) -> None:
        """:meth:`fsync_parent_before_report` of a name in ``directory``."""
        if self._share_dir_syncs:
            self._pending_dirs[directory] = None
        else:
            self.fsync_dir(directory)

    def sync_pending(self) -> None:
        """fsync every directory noted since the last call, each once. A directory that is
        gone was moved or removed by a later step, which synced its own parents."""
        pending, self._pending_dirs = self._pending_dirs, {}
        for directory in pending:
            try:
                self.fsync_dir(directory)
            except FileNotFoundError:
                continue
