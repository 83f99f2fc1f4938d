"""checksum: the hex digest of a regular file, read in 1 MiB blocks. Changes nothing.

A directory or a symlink is a permanent failure (links are never followed); a file modified
while it is read is a transient failure (retried later).
"""

from __future__ import annotations

import hashlib
import os
import stat

from batchd.daemon.ops.content import hash_fd
from batchd.daemon.ops.env import OpEnv
from batchd.daemon.ops.errors import OpFailed, refused, show, vanished
from batchd.daemon.ops.outcomes import succeeded
from batchd.daemon.ops.step import ErrorKind, Fingerprint, Outcome, Step

DEFAULT_ALGORITHM = "sha256"


def algorithms() -> list[str]:
    """Algorithms a step may name (fixed-length digests available in this Python)."""
    return sorted(name for name in hashlib.algorithms_available if not name.startswith("shake"))


def run(step: Step, env: OpEnv, expected: Fingerprint | None = None) -> Outcome:
    """Hash ``step.path`` with ``step.algorithm`` (default sha256)."""
    fs, path = env.fs, step.path
    algorithm = (step.algorithm or DEFAULT_ALGORITHM).lower()
    if algorithm not in algorithms():
        raise OpFailed(
            ErrorKind.PERMANENT,
            f"unknown checksum algorithm {algorithm!r} (available: {', '.join(algorithms())})",
        )
    try:
        before = fs.lstat(path)
    except FileNotFoundError:
        raise vanished(path) from None
    if stat.S_ISDIR(before.st_mode):
        raise refused("is a directory; checksum reads regular files only", path)
    if stat.S_ISLNK(before.st_mode):
        raise refused("is a symbolic link; checksum never follows links (name its target)", path)
    if not stat.S_ISREG(before.st_mode):
        raise refused("is not a regular file; checksum reads regular files only", path)
    fd = fs.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        opened = fs.fstat(fd)
        digest = hash_fd(fs, fd, algorithm)
        after = fs.fstat(fd)
    finally:
        os.close(fd)
    if Fingerprint.of(opened) != Fingerprint.of(before) or Fingerprint.of(after) != Fingerprint.of(
        opened
    ):
        raise OpFailed(ErrorKind.TRANSIENT, f"file changed while it was read: {show(path)}")
    return succeeded(step, env, path, digest)


def converged(
    step: Step, env: OpEnv, expected: Fingerprint, current: Fingerprint | None
) -> Outcome | None:
    """A checksum of content other than the planned one is never 'done'."""
    return None
