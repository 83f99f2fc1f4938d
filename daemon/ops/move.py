"""move: rename ``step.path`` to ``step.dest`` — a file, a symlink (the link itself) or a
directory tree; across filesystems by copy, commit, then removal of the source.

The one visible syscall:
- same filesystem: ``rename_noreplace(src, dst)``, or ``rename(src, dst)`` with overwrite
  (the old dst is hardlinked into the undo store first when rollback is on); without
  overwrite it is tried first, and only when it fails is everything examined
  (:func:`run_matched`);
- case-only rename where dst is another name of src's inode (case-insensitive mount):
  ``rename(src, temp)`` then ``rename_noreplace(temp, dst)``; a crash in between leaves
  the inode under the step's temp name, and a re-run (with ``expected``) finishes it;
- across filesystems: ``rename_noreplace(temp, dst)`` commits a fsynced copy made at the
  step's temp beside dst; the source is then renamed to a second temp (atomic) and removed.

Crash states of a cross-filesystem move and how a re-run converges:
1. partial temp beside dst, src intact → the stale temp is discarded and the copy redone;
2. dst committed, src intact → dst holds a copy equal to src: src is removed;
3. dst committed, src renamed to its temp or partly removed → src is gone and dst holds an
   object of src's kind on another device: "already done" (the leftover temp is removed).
"""

from __future__ import annotations

import errno
import os
import stat

from batchd.daemon.ops.content import same_tree
from batchd.daemon.ops.delete import remove_path
from batchd.daemon.ops.env import Intent, OpEnv
from batchd.daemon.ops.errors import OpFailed, appeared, refused, vanished
from batchd.daemon.ops.names import temp_beside
from batchd.daemon.ops.outcomes import (
    ALREADY_DONE,
    fingerprint_or_none,
    succeeded,
    succeeded_rename,
)
from batchd.daemon.ops.staging import stage_copy
from batchd.daemon.ops.step import ErrorKind, Fingerprint, Outcome, Step

SOURCE_TEMP = 1  # the n of the source-side temp of a cross-filesystem move


def destination(step: Step) -> bytes:
    """The step's destination (move and copy always have one)."""
    if step.dest is None:
        raise OpFailed(ErrorKind.PERMANENT, f"step {step.index} has no destination")
    return step.dest


def refuse_kind_mismatch(src: os.stat_result, dst: os.stat_result, dst_path: bytes) -> None:
    """Never merge a directory onto a directory, nor replace a file by a directory or back."""
    if stat.S_ISDIR(src.st_mode) and stat.S_ISDIR(dst.st_mode):
        raise refused("refusing to merge a directory onto an existing directory", dst_path)
    if stat.S_ISDIR(src.st_mode) != stat.S_ISDIR(dst.st_mode):
        what = "a directory by a file" if stat.S_ISDIR(dst.st_mode) else "a file by a directory"
        raise refused(f"refusing to replace {what}", dst_path)


def run(step: Step, env: OpEnv, expected: Fingerprint | None = None) -> Outcome:
    """Move ``step.path`` to ``step.dest``."""
    destination(step)  # a step without one fails before anything is looked at
    if step.overwrite:
        return _examine(step, env)
    try:
        info = env.fs.lstat(step.path)
    except FileNotFoundError:
        raise vanished(step.path) from None
    return run_matched(step, env, Fingerprint.of(info))


def run_matched(step: Step, env: OpEnv, current: Fingerprint) -> Outcome:
    """Move ``step.path``, just found to hold ``current``. Without overwrite the rename is
    simply tried, as RENAME_NOREPLACE itself refuses an existing dst: the common case costs
    no look at dst or its directory. Any failure (dst exists, even as another name of src's
    inode; another filesystem; no such directory) leaves everything as it was, and the move
    is then decided by examining everything, exactly as if the rename had not been tried."""
    if step.overwrite:
        return _examine(step, env)
    src, dst = step.path, destination(step)
    env.intent(step, Intent(step.index, "rename", current))
    try:
        env.fs.rename_noreplace(src, dst)
    except OSError:
        return _examine(step, env)
    _fsync_parents(env, src, dst)
    return succeeded_rename(step, env, dst, current)


def _examine(step: Step, env: OpEnv) -> Outcome:
    """The move decided from a look at src, dst's directory and dst."""
    fs, src, dst = env.fs, step.path, destination(step)
    try:
        info = fs.lstat(src)
    except FileNotFoundError:
        raise vanished(src) from None
    try:
        parent_dev = fs.lstat(os.path.dirname(dst) or b".").st_dev
    except FileNotFoundError:
        raise refused("the destination's directory does not exist", dst) from None
    try:
        target: os.stat_result | None = fs.lstat(dst)
    except FileNotFoundError:
        target = None
    if target is not None:
        if (target.st_dev, target.st_ino) == (info.st_dev, info.st_ino):
            return _same_inode(step, env, info, dst)
        if not step.overwrite:
            if info.st_dev != parent_dev and same_tree(fs, src, dst):
                remove_path(step, env, src, SOURCE_TEMP)  # crash state 2: finish the move
                return succeeded(step, env, dst, ALREADY_DONE)
            raise appeared(dst)
        refuse_kind_mismatch(info, target, dst)
    if info.st_dev == parent_dev:
        try:
            return _rename(step, env, info, dst, replace=target is not None)
        except OSError as exc:
            if exc.errno != errno.EXDEV:  # bind mounts share st_dev but not renames
                raise
    return _move_across(step, env, info, dst, replace=target is not None)


def converged(
    step: Step, env: OpEnv, expected: Fingerprint, current: Fingerprint | None
) -> Outcome | None:
    """Recognise a move an earlier run completed (or finish an interrupted case rename)."""
    if current is not None:
        return None
    fs, dst = env.fs, destination(step)
    there = fingerprint_or_none(env, dst)
    if there is not None and there.same_inode(expected):
        return succeeded(step, env, dst, ALREADY_DONE)
    temp = temp_beside(dst, env.batch, step.index)
    held = fingerprint_or_none(env, temp)
    if there is None and held is not None and held.same_inode(expected):
        fs.rename_noreplace(temp, dst)  # interrupted case-only rename
        fs.fsync_parent(dst)
        return succeeded(step, env, dst, "completed an interrupted rename")
    if (
        there is not None
        and there.dev != expected.dev
        and there.kind == expected.kind
        and (expected.kind != stat.S_IFREG or there.size == expected.size)
    ):
        fs.discard(temp_beside(step.path, env.batch, step.index, SOURCE_TEMP))
        fs.fsync_parent(step.path)
        return succeeded(step, env, dst, ALREADY_DONE)
    return None


def _rename(step: Step, env: OpEnv, info: os.stat_result, dst: bytes, *, replace: bool) -> Outcome:
    fs, src = env.fs, step.path
    undo = None
    if replace and env.enable_rollback:
        undo = env.undo.keep(dst, env.batch, step.index, will_replace=True).entry
    env.intent(step, Intent(step.index, "rename", Fingerprint.of(info), undo=undo))
    if replace:
        fs.rename(src, dst)
    else:
        try:
            fs.rename_noreplace(src, dst)
        except FileExistsError:
            raise appeared(dst) from None
    _fsync_parents(env, src, dst)
    return succeeded_rename(step, env, dst, Fingerprint.of(info))


def _same_inode(step: Step, env: OpEnv, info: os.stat_result, dst: bytes) -> Outcome:
    """dst names src's inode: the same entry seen through a case-insensitive lookup (a
    case-only rename), or another hard link of it."""
    fs, src = env.fs, step.path
    parent, name = os.path.split(dst)
    if name not in fs.listdir(parent or b"."):
        temp = temp_beside(dst, env.batch, step.index)
        fs.discard(temp)
        env.intent(step, Intent(step.index, "case-rename", Fingerprint.of(info), temp=temp))
        fs.rename(src, temp)
        try:
            fs.rename_noreplace(temp, dst)
        except OSError:
            fs.rename(temp, src)
            raise
        _fsync_parents(env, src, dst)
        return succeeded(step, env, dst)
    if not step.overwrite:
        raise appeared(dst)
    # Both names are hard links of one inode: rename() would silently do nothing.
    env.intent(step, Intent(step.index, "unlink-alias", Fingerprint.of(info)))
    fs.unlink(src)
    fs.fsync_parent(src)
    return succeeded(step, env, dst)


def _move_across(
    step: Step, env: OpEnv, info: os.stat_result, dst: bytes, *, replace: bool
) -> Outcome:
    fs, src = env.fs, step.path
    temp = temp_beside(dst, env.batch, step.index)
    stage_copy(env, src, temp, dst, info, sync=True)
    try:
        undo = None
        if replace and env.enable_rollback:
            undo = env.undo.keep(dst, env.batch, step.index, will_replace=True).entry
        temp_post = Fingerprint.of(fs.lstat(temp))
        intent = Intent(step.index, "copy-commit", Fingerprint.of(info), temp, temp_post, undo)
        env.intent(step, intent)
    except Exception:
        fs.discard(temp)
        raise
    try:
        if replace:
            fs.rename(temp, dst)
        else:
            fs.rename_noreplace(temp, dst)
    except FileExistsError:
        fs.discard(temp)
        raise appeared(dst) from None
    fs.fsync_parent(dst)
    remove_path(step, env, src, SOURCE_TEMP)
    return succeeded(step, env, dst)


def _fsync_parents(env: OpEnv, src: bytes, dst: bytes) -> None:
    """Make the rename durable before it is reported: dst's directory, and src's too when
    the rename crossed directories (shared with the other steps reported together)."""
    src_dir, dst_dir = os.path.dirname(src) or b".", os.path.dirname(dst) or b"."
    env.fs.fsync_dir_before_report(dst_dir)
    if src_dir != dst_dir:
        env.fs.fsync_dir_before_report(src_dir)
