"""The undo store: where originals go before a destructive op, so a rollback can restore them.

Layout: ``<root>/<batch>/<step index>`` (and ``.<part>`` for further paths of one step, as a
``call`` handler may declare several); directories are 0700 and their creation is fsynced.
``root`` is the store directory itself (``<state>/undo``).

Three ways to keep an original, chosen by :meth:`UndoStore.keep`:

- by rename (delete, same filesystem): O(1), the inode itself moves into the store;
- by hardlink (overwrite, transform; same filesystem): O(1), the old inode is frozen once
  its name is replaced by the new content;
- by copy (another filesystem, or a file that will be modified in place): copy, fsync, verify
  (kind, mode, size, sha256) under a ``.tmp`` name, then rename into place.

An existing entry is never replaced: after a crash, the entry a first attempt made holds the
earliest original, which is the one a rollback must restore.

A ``call`` step also leaves a manifest, ``<root>/<batch>/<index>.paths``: the msgpack list of
the absolute paths its handler declared; the entry ``<index>.<k>`` (``<index>`` for k = 0)
holds the original of the k-th when it existed.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import msgpack

from batchd.daemon.ops.content import same_tree
from batchd.daemon.ops.fs import FileSystem

MANIFEST_SUFFIX: Final = b".paths"


@dataclass(frozen=True, slots=True)
class Kept:
    """Where an original went (``entry``) and how: ``"rename"``, ``"link"`` or ``"copy"``.

    After ``rename`` the original name is gone; after ``link`` and ``copy`` it is still there.
    """

    entry: bytes
    how: str


class UndoStore:
    """Keeps originals under ``root`` (the store directory, e.g. ``<state>/undo``)."""

    def __init__(self, root: Path, fs: FileSystem) -> None:
        self.root = os.fsencode(os.path.abspath(root))
        self.fs = fs
        self._ready: set[bytes] = set()

    def path_for(self, batch: int, index: int, part: int = 0) -> bytes:
        """The store entry of step ``index`` of ``batch`` (``part`` > 0: its further paths)."""
        name = b"%d" % index if part == 0 else b"%d.%d" % (index, part)
        return os.path.join(self.root, b"%d" % batch, name)

    def device(self) -> int:
        """``st_dev`` of the store (created on first use)."""
        self._ensure_dir(self.root)
        return self.fs.lstat(self.root).st_dev

    def keep(
        self, path: bytes, batch: int, index: int, *, will_replace: bool, part: int = 0
    ) -> Kept:
        """Keep ``path``'s original: by link when its name will be replaced, by rename when it
        will be removed, by copy across filesystems (or when a link/rename gets EXDEV)."""
        info = self.fs.lstat(path)
        if info.st_dev == self.device():
            try:
                if will_replace and not stat.S_ISDIR(info.st_mode):
                    return self.keep_by_link(path, batch, index, part)
                return self.keep_by_rename(path, batch, index, part)
            except OSError as exc:
                if exc.errno != errno.EXDEV:  # bind mounts share st_dev, not rename/link
                    raise
        return self.keep_by_copy(path, batch, index, part)

    def keep_by_rename(self, path: bytes, batch: int, index: int, part: int = 0) -> Kept:
        """Move ``path`` itself into the store (same filesystem); ``path`` is gone afterwards."""
        entry = self._entry(batch, index, part)
        self.fs.rename_noreplace(path, entry)
        self.fs.fsync_parent(entry)
        self.fs.fsync_parent(path)
        return Kept(entry, "rename")

    def keep_by_link(self, path: bytes, batch: int, index: int, part: int = 0) -> Kept:
        """Hardlink ``path``'s inode into the store (same filesystem, not a directory).

        An existing entry holding the same inode (left by a crashed attempt) is accepted."""
        entry = self._entry(batch, index, part)
        try:
            self.fs.link(path, entry)
        except FileExistsError:
            here, there = self.fs.lstat(path), self.fs.lstat(entry)
            if (here.st_dev, here.st_ino) != (there.st_dev, there.st_ino):
                raise
        self.fs.fsync_parent(entry)
        return Kept(entry, "link")

    def keep_by_copy(self, path: bytes, batch: int, index: int, part: int = 0) -> Kept:
        """Copy ``path`` (file, symlink or tree) into the store, fsynced and verified.

        An existing entry is kept as is: it holds the earliest original of this step."""
        entry = self._entry(batch, index, part)
        if self.fs.exists(entry):
            return Kept(entry, "copy")
        temp = entry + b".tmp"
        self.fs.discard(temp)
        try:
            self.fs.copy_tree(path, temp)
            if not same_tree(self.fs, path, temp):
                raise OSError(errno.EIO, "the copy in the undo store does not match", path)
            self.fs.rename(temp, entry)
        except BaseException:
            self.fs.discard(temp)
            raise
        self.fs.fsync_parent(entry)
        return Kept(entry, "copy")

    def manifest_path(self, batch: int, index: int) -> bytes:
        """Where the manifest of step ``index`` of ``batch`` lives."""
        return os.path.join(self.root, b"%d" % batch, b"%d" % index + MANIFEST_SUFFIX)

    def write_manifest(self, batch: int, index: int, paths: list[bytes]) -> bytes:
        """Durably record the paths step ``index`` (a call) declared: temp, fsync, rename,
        fsync of the directory. Replaces an earlier manifest of the step; returns its path."""
        target = self.manifest_path(batch, index)
        self._ensure_dir(os.path.dirname(target))
        temp = target + b".tmp"
        fs = self.fs
        fd = fs.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            fs.write_all(fd, msgpack.packb(list(paths)))
            fs.fsync(fd)
        finally:
            os.close(fd)
        fs.rename(temp, target)
        fs.fsync_parent(target)
        return target

    def read_manifest(self, batch: int, index: int) -> list[bytes] | None:
        """The paths step ``index`` of ``batch`` declared, or None when it left no manifest."""
        try:
            fd = self.fs.open(self.manifest_path(batch, index), os.O_RDONLY)
        except FileNotFoundError:
            return None
        data = b""
        try:
            while block := self.fs.read(fd, 1 << 16):
                data += block
        finally:
            os.close(fd)
        paths = msgpack.unpackb(data)
        if not isinstance(paths, list) or not all(isinstance(p, bytes) for p in paths):
            raise ValueError(f"bad manifest {self.manifest_path(batch, index)!r}")
        return paths

    def _entry(self, batch: int, index: int, part: int) -> bytes:
        entry = self.path_for(batch, index, part)
        self._ensure_dir(os.path.dirname(entry))
        return entry

    def _ensure_dir(self, directory: bytes) -> None:
        """Create ``directory`` (and missing parents) 0700, fsyncing each parent."""
        if directory in self._ready:
            return
        if not self.fs.exists(directory):
            parent = os.path.dirname(directory)
            if parent != directory:
                self._ensure_dir(parent)
            with contextlib.suppress(FileExistsError):
                self.fs.mkdir(directory, 0o700)
            self.fs.fsync_dir(parent)
        self._ready.add(directory)
