"""Reading content back: hashing a file in blocks, the content digest a rollback compares, and
comparing two files or trees."""

from __future__ import annotations

import hashlib
import os
import stat
from typing import Final

from batchd.daemon.ops.fs import FileSystem

BLOCK: Final = 1 << 20
DIGEST_LIMIT: Final = 1 << 20
"""Files up to this size get a content digest in their Outcome (with rollback on)."""
DIGEST_SIZE: Final = 16


def hash_fd(fs: FileSystem, fd: int, algorithm: str = "sha256") -> str:
    """Hex digest of everything readable from ``fd``, read in 1 MiB blocks."""
    digest = hashlib.new(algorithm)
    while block := fs.read(fd, BLOCK):
        digest.update(block)
    return digest.hexdigest()


def hash_file(fs: FileSystem, path: bytes, algorithm: str = "sha256") -> str:
    """Hex digest of a regular file (a symlink is refused with ELOOP, never followed)."""
    fd = fs.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        return hash_fd(fs, fd, algorithm)
    finally:
        os.close(fd)


def content_digest(fs: FileSystem, path: bytes) -> bytes:
    """The 16-byte blake2b digest of a regular file's content (a symlink is refused with
    ELOOP). A rollback compares it to notice an edit that kept the size and the times."""
    fd = fs.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        return digest_fd(fs, fd)
    finally:
        os.close(fd)


def digest_fd(fs: FileSystem, fd: int) -> bytes:
    """:func:`content_digest` of everything readable from ``fd``."""
    digest = hashlib.blake2b(digest_size=DIGEST_SIZE)
    while block := fs.read(fd, BLOCK):
        digest.update(block)
    return digest.digest()


def same_tree(fs: FileSystem, a: bytes, b: bytes, *, modes: bool = True) -> bool:
    """True when ``a`` and ``b`` hold the same kind, content (files: size and sha256;
    symlinks: target; directories: the same names, recursively) and, with ``modes``, the same
    permission bits. Used to verify copies and to recognise a copy a crashed run completed."""
    try:
        info_a, info_b = fs.lstat(a), fs.lstat(b)
    except FileNotFoundError:
        return False
    if stat.S_IFMT(info_a.st_mode) != stat.S_IFMT(info_b.st_mode):
        return False
    if stat.S_ISLNK(info_a.st_mode):
        return fs.readlink(a) == fs.readlink(b)
    if modes and stat.S_IMODE(info_a.st_mode) != stat.S_IMODE(info_b.st_mode):
        return False
    if stat.S_ISREG(info_a.st_mode):
        return info_a.st_size == info_b.st_size and hash_file(fs, a) == hash_file(fs, b)
    if stat.S_ISDIR(info_a.st_mode):
        names = fs.listdir(a)
        if names != fs.listdir(b):
            return False
        return all(
            same_tree(fs, os.path.join(a, name), os.path.join(b, name), modes=modes)
            for name in names
        )
    return False
