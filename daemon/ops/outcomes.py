"""Building the Outcome of a step: success with the post-state fingerprint of its target (and,
with rollback on, the content digest of a small regular file left there)."""

from __future__ import annotations

import os
import stat

from batchd.daemon.ops.content import DIGEST_LIMIT, content_digest, digest_fd
from batchd.daemon.ops.env import OpEnv
from batchd.daemon.ops.step import Fingerprint, OpKind, Outcome, Step

ALREADY_DONE = "already done"


def succeeded(step: Step, env: OpEnv, target: bytes | None, result: str = "") -> Outcome:
    """A successful Outcome; ``post`` fingerprints ``target`` when something is there, and
    ``digest`` holds its content digest when rollback is on and it is a regular file of at
    most ``DIGEST_LIMIT`` bytes (a checksum, which changes nothing, gets none)."""
    if target is None:
        return Outcome(step.index, True, result=result)
    try:
        info = env.fs.lstat(target)
    except FileNotFoundError:
        return Outcome(step.index, True, result=result)
    digest = b""
    if (
        env.enable_rollback
        and stat.S_ISREG(info.st_mode)
        and info.st_size <= DIGEST_LIMIT
        and step.op != OpKind.CHECKSUM
    ):
        try:
            digest = content_digest(env.fs, target)
        except OSError:  # e.g. moved but unreadable by us: the digest is only a bonus
            digest = b""
    return Outcome(step.index, True, result=result, post=Fingerprint.of(info), digest=digest)


def succeeded_rename(step: Step, env: OpEnv, target: bytes, pre: Fingerprint) -> Outcome:
    """:func:`succeeded` for a step that renamed the object ``pre`` fingerprints to
    ``target``. When that earns a digest, one open of ``target`` gives both: the post-state
    from ``fstat`` of the opened file (an observation, not an assumption: on some mounts, such
    as overlayfs, a rename may change a file's device or inode), then its content."""
    if not (
        env.enable_rollback
        and pre.kind == stat.S_IFREG
        and pre.size <= DIGEST_LIMIT
        and step.op != OpKind.CHECKSUM
    ):
        return succeeded(step, env, target)
    fs = env.fs
    try:  # O_NONBLOCK: should a FIFO have been swapped in, never wait on it
        fd = fs.open(target, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:  # gone, a symlink now, or unreadable by us: look as succeeded does
        return succeeded(step, env, target)
    try:
        info = fs.fstat(fd)
        digest = b""
        if stat.S_ISREG(info.st_mode) and info.st_size <= DIGEST_LIMIT:
            try:
                digest = digest_fd(fs, fd)
            except OSError:  # the digest is only a bonus
                digest = b""
    finally:
        os.close(fd)
    return Outcome(step.index, True, post=Fingerprint.of(info), digest=digest)


def fingerprint_or_none(env: OpEnv, path: bytes) -> Fingerprint | None:
    """The fingerprint of ``path``, or None when nothing is there."""
    try:
        return Fingerprint.of(env.fs.lstat(path))
    except FileNotFoundError:
        return None
