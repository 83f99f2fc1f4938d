"""Copying a source to an invisible temporary name, the shared first half of copy and of a
move across file systems."""

from __future__ import annotations

import os

from batchd.daemon.ops.env import OpEnv
from batchd.daemon.ops.errors import OpFailed, copy_failed, show, vanished
from batchd.daemon.ops.step import ErrorKind, Fingerprint


def stage_copy(
    env: OpEnv, src: bytes, temp: bytes, dst: bytes, info: os.stat_result, *, sync: bool = False
) -> None:
    """Copy ``src`` (file, symlink or tree, as ``info`` describes it) to the invisible
    ``temp`` beside ``dst``; fail TRANSIENT if ``src`` changed meanwhile. Used by copy and
    by a move across file systems. ``sync`` also fsyncs ``temp``'s directory."""
    fs = env.fs
    fs.discard(temp)
    try:
        fs.copy_tree(src, temp)
        if sync:
            fs.fsync_parent(temp)
    except FileNotFoundError as exc:
        fs.discard(temp)
        if exc.filename == src:
            raise vanished(src) from None
        raise copy_failed(exc, src, dst) from None
    except OSError as exc:
        fs.discard(temp)
        raise copy_failed(exc, src, dst) from None
    if Fingerprint.of(fs.lstat(src)) != Fingerprint.of(info):
        fs.discard(temp)
        raise OpFailed(ErrorKind.TRANSIENT, f"source changed while being copied: {show(src)}")
