"""restore (a rollback step): put the undo-store entry ``step.dest`` back at ``step.path``.

``step.overwrite`` False: ``step.path`` must be absent (else the conflict "was re-created
since"); True: whatever is there now is first kept in this batch's own store entry
(``path_for(env.batch, step.index)``, rollback on), so that rolling back the rollback brings
it back.

How the entry comes back (the original inode, bytes, mode and mtime on one filesystem):
- a file or symlink: ``link(entry, temp)`` beside the path, then the one visible syscall
  ``rename(temp, path)`` (replacing a non-directory) or ``rename_noreplace(temp, path)``; the
  entry stays in the store, so the original batch's undo data is not consumed;
- a directory: ``rename_noreplace(entry, path)``, O(1); this consumes the entry;
- another filesystem (or EXDEV): ``copy_tree`` (modes, mtimes, owners as root) to the temp,
  then the rename; the entry stays.
A directory, or a non-directory that a directory replaces, is first moved out of the way
(into the store by rename, or removed through the step's second temp).

Re-runs converge: the path holding the entry's inode (or, for a directory entry, the entry
gone and a directory at the path) is "already done"; a path left absent by an interrupted
run (what was there is in this batch's store, or the temp holds the entry) is finished.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import Final

from batchd.daemon.ops.delete import remove_path
from batchd.daemon.ops.env import Intent, OpEnv
from batchd.daemon.ops.errors import OpFailed, copy_failed, refused, show
from batchd.daemon.ops.names import temp_beside
from batchd.daemon.ops.outcomes import ALREADY_DONE, fingerprint_or_none, succeeded
from batchd.daemon.ops.step import ErrorKind, Fingerprint, Outcome, Step

TRASH: Final = 1  # the n of the temp a displaced directory is removed through


def entry_of(step: Step) -> bytes:
    """The store entry a restore step puts back."""
    if step.dest is None:
        raise OpFailed(ErrorKind.PERMANENT, f"restore step {step.index} names no undo entry")
    return step.dest


def recreated(path: bytes) -> OpFailed:
    """The conflict of a restore whose path is occupied again."""
    return OpFailed(
        ErrorKind.PERMANENT,
        f"{show(path)} was re-created since; left untouched "
        "(a forced rollback replaces it and keeps it in the undo store)",
    )


def run(step: Step, env: OpEnv, expected: Fingerprint | None = None) -> Outcome:
    """Put ``step.dest`` (an undo-store entry) back at ``step.path``."""
    fs, path, entry = env.fs, step.path, entry_of(step)
    parent = os.path.dirname(path) or b"."
    try:
        parent_dev = fs.lstat(parent).st_dev
    except FileNotFoundError:
        raise refused("the directory to restore into does not exist", parent) from None
    current = fingerprint_or_none(env, path)
    kept = fingerprint_or_none(env, entry)
    if kept is None:
        if current is not None and _consumed_into(env, entry, current):
            return succeeded(step, env, path, ALREADY_DONE)
        raise OpFailed(ErrorKind.PERMANENT, f"the undo data of this item is gone: {show(entry)}")
    temp = temp_beside(path, env.batch, step.index)
    if current is not None and current.same_inode(kept):
        fs.discard(temp)  # a link+unlink rename fallback may have been cut short
        return succeeded(step, env, path, ALREADY_DONE)
    if current is not None and not step.overwrite:
        raise recreated(path)
    by_rename = kept.kind == stat.S_IFDIR and kept.dev == parent_dev
    if not by_rename:
        _stage(env, entry, temp, path, link=kept.dev == parent_dev)
    atomic = current is not None and stat.S_IFDIR not in (current.kind, kept.kind)
    undo = None
    try:
        if current is not None and env.enable_rollback:
            undo = env.undo.path_for(env.batch, step.index)
            if atomic:
                env.undo.keep(path, env.batch, step.index, will_replace=True)
        staged = None if by_rename else temp
        temp_post = None if staged is None else fingerprint_or_none(env, staged)
        env.intent(step, Intent(step.index, "restore", current, staged, temp_post, undo))
    except Exception:
        if not by_rename:
            fs.discard(temp)
        raise
    if current is not None and not atomic:
        _displace(step, env)
    _commit(env, entry, temp, path, by_rename=by_rename, replace=atomic)
    return succeeded(step, env, path)


def converged(
    step: Step, env: OpEnv, expected: Fingerprint, current: Fingerprint | None
) -> Outcome | None:
    """Recognise a restore an earlier run completed; finish one it left with the path empty."""
    fs, path, entry = env.fs, step.path, entry_of(step)
    kept = fingerprint_or_none(env, entry)
    temp = temp_beside(path, env.batch, step.index)
    if current is not None:
        if (kept is not None and current.same_inode(kept)) or (
            kept is None and _consumed_into(env, entry, current)
        ):
            fs.discard(temp)
            return succeeded(step, env, path, ALREADY_DONE)
        return None
    trash = temp_beside(path, env.batch, step.index, TRASH)
    displaced = env.enable_rollback and fs.exists(env.undo.path_for(env.batch, step.index))
    held = fingerprint_or_none(env, temp)
    staged = held is not None and kept is not None and held.same_inode(kept)
    if displaced or staged or fs.exists(trash):
        fs.discard(trash)
        return run(step, env, None)
    return None


def _consumed_into(env: OpEnv, entry: bytes, current: Fingerprint) -> bool:
    """A directory entry that is gone was renamed to the path by an earlier run: the path
    holds a directory on the store's filesystem."""
    store_dir = fingerprint_or_none(env, os.path.dirname(entry))
    return current.kind == stat.S_IFDIR and store_dir is not None and store_dir.dev == current.dev


def _stage(env: OpEnv, entry: bytes, temp: bytes, path: bytes, *, link: bool) -> None:
    """Put the entry at the invisible ``temp``: a hard link on one filesystem, else a copy."""
    fs = env.fs
    fs.discard(temp)
    if link:
        try:
            fs.link(entry, temp)
            return
        except OSError as exc:
            if exc.errno != errno.EXDEV:  # bind mounts share st_dev, not links
                raise
    try:
        fs.copy_tree(entry, temp)
    except OSError as exc:
        fs.discard(temp)
        raise copy_failed(exc, entry, path) from None


def _displace(step: Step, env: OpEnv) -> None:
    """Get what is at ``step.path`` out of the way (kept in this batch's store first)."""
    if env.enable_rollback:
        kept = env.undo.keep(step.path, env.batch, step.index, will_replace=False)
        if kept.how == "rename":
            return
    remove_path(step, env, step.path, TRASH)


def _commit(
    env: OpEnv, entry: bytes, temp: bytes, path: bytes, *, by_rename: bool, replace: bool
) -> None:
    """The one visible syscall, then the fsyncs of the parents."""
    fs = env.fs
    try:
        if by_rename:
            try:
                fs.rename_noreplace(entry, path)
                fs.fsync_parent_before_report(entry)
            except OSError as exc:
                if exc.errno != errno.EXDEV:
                    raise
                _stage(env, entry, temp, path, link=False)
                fs.rename_noreplace(temp, path)
        elif replace:
            fs.rename(temp, path)
        else:
            fs.rename_noreplace(temp, path)
    except FileExistsError:
        fs.discard(temp)
        raise recreated(path) from None
    fs.fsync_parent_before_report(path)
