"""delete: remove ``step.path`` — a file, a symlink (never its target) or a directory tree.

The one visible syscall:
- rollback on, same filesystem as the undo store: ``rename(path, <undo entry>)`` — the
  inode itself goes into the store, O(1) even for a tree;
- rollback on, another filesystem: copy + fsync + verify into the store (invisible), then
  remove as below;
- rollback off: ``unlink(path)``; a directory is first renamed to the step's temp beside it
  (atomic), then its tree is removed, so a crash never leaves a half-deleted tree under the
  user's name — only an identifiable temp that a re-run or recovery removes.

A hard-linked file keeps its content under its other names: only this name is touched.
"""

from __future__ import annotations

import errno
import stat

from batchd.daemon.ops.env import Intent, OpEnv
from batchd.daemon.ops.errors import vanished
from batchd.daemon.ops.names import temp_beside
from batchd.daemon.ops.outcomes import ALREADY_DONE, fingerprint_or_none, succeeded
from batchd.daemon.ops.step import Fingerprint, Outcome, Step


def run(step: Step, env: OpEnv, expected: Fingerprint | None = None) -> Outcome:
    """Delete ``step.path``, keeping it in the undo store when rollback is on."""
    fs, path = env.fs, step.path
    try:
        info = fs.lstat(path)
    except FileNotFoundError:
        raise vanished(path) from None
    pre = Fingerprint.of(info)
    if env.enable_rollback:
        entry = env.undo.path_for(env.batch, step.index)
        if info.st_dev == env.undo.device():
            env.intent(step, Intent(step.index, "rename-to-undo", pre, undo=entry))
            try:
                env.undo.keep_by_rename(path, env.batch, step.index)
                return succeeded(step, env, None)
            except OSError as exc:
                if exc.errno != errno.EXDEV:
                    raise
        env.undo.keep_by_copy(path, env.batch, step.index)
        env.intent(step, Intent(step.index, "remove", pre, undo=entry))
    else:
        env.intent(step, Intent(step.index, "remove", pre))
    remove_path(step, env, path)
    return succeeded(step, env, None)


def converged(
    step: Step, env: OpEnv, expected: Fingerprint, current: Fingerprint | None
) -> Outcome | None:
    """A delete is done when the path is gone and (with rollback) the store holds it."""
    if current is not None:
        return None
    trash = temp_beside(step.path, env.batch, step.index)
    if env.fs.exists(trash):
        env.fs.remove_tree(trash)  # an interrupted tree removal
        env.fs.fsync_parent(trash)
    if not env.enable_rollback:
        return succeeded(step, env, None, ALREADY_DONE)
    kept = fingerprint_or_none(env, env.undo.path_for(env.batch, step.index))
    if kept is not None and (kept.same_inode(expected) or kept.kind == expected.kind):
        return succeeded(step, env, None, ALREADY_DONE)
    return None


def remove_path(step: Step, env: OpEnv, path: bytes, n: int = 0) -> None:
    """Remove ``path``: unlink a file or symlink; rename a directory to the step's temp ``n``
    beside it (the one visible syscall), then remove that tree. fsyncs the parent."""
    fs = env.fs
    if not stat.S_ISDIR(fs.lstat(path).st_mode):
        fs.unlink(path)
        fs.fsync_parent_before_report(path)
        return
    trash = temp_beside(path, env.batch, step.index, n)
    fs.discard(trash)
    fs.rename(path, trash)
    fs.fsync_parent(path)
    fs.remove_tree(trash)
    fs.fsync_parent(path)
