"""copy: copy ``step.path`` to ``step.dest`` — a file, a symlink (as a link, never followed)
or a directory tree; modes, mtimes and (as root) owners are kept.

The content is prepared invisibly at the step's temp beside dst and fsynced. The one visible
syscall:
- dst absent: ``link(temp, dst)`` for a file or symlink (EEXIST → nothing clobbered; the temp
  is then unlinked), ``rename_noreplace(temp, dst)`` for a directory;
- overwrite of an existing dst: the old dst is hardlinked into the undo store (rollback on),
  then ``rename(temp, dst)``.

Re-runs converge: a crash between link and unlink leaves temp and dst on one inode (the temp
is removed: done); with ``expected`` given, a dst whose content equals src's is a copy an
earlier run completed ("already done").
"""

from __future__ import annotations

import os
import stat

from batchd.daemon.ops.content import same_tree
from batchd.daemon.ops.env import Intent, OpEnv
from batchd.daemon.ops.errors import appeared, vanished
from batchd.daemon.ops.move import destination, refuse_kind_mismatch
from batchd.daemon.ops.names import temp_beside
from batchd.daemon.ops.outcomes import ALREADY_DONE, fingerprint_or_none, succeeded
from batchd.daemon.ops.staging import stage_copy
from batchd.daemon.ops.step import Fingerprint, Outcome, Step


def run(step: Step, env: OpEnv, expected: Fingerprint | None = None) -> Outcome:
    """Copy ``step.path`` to ``step.dest``."""
    fs, src, dst = env.fs, step.path, destination(step)
    try:
        info = fs.lstat(src)
    except FileNotFoundError:
        raise vanished(src) from None
    temp = temp_beside(dst, env.batch, step.index)
    try:
        target: os.stat_result | None = fs.lstat(dst)
    except FileNotFoundError:
        target = None
    if target is not None:
        held = fingerprint_or_none(env, temp)
        if held is not None and held.same_inode(Fingerprint.of(target)):
            fs.unlink(temp)  # crashed between link(temp, dst) and unlink(temp)
            fs.fsync_parent(temp)
            return succeeded(step, env, dst, ALREADY_DONE)
        if not step.overwrite:
            if expected is not None and same_tree(fs, src, dst):
                return succeeded(step, env, dst, ALREADY_DONE)
            raise appeared(dst)
        refuse_kind_mismatch(info, target, dst)
    stage_copy(env, src, temp, dst, info)
    try:
        undo = None
        if target is not None and env.enable_rollback:
            undo = env.undo.keep(dst, env.batch, step.index, will_replace=True).entry
        temp_post = Fingerprint.of(fs.lstat(temp))
        intent = Intent(step.index, "copy-commit", Fingerprint.of(info), temp, temp_post, undo)
        env.intent(step, intent)
    except Exception:
        fs.discard(temp)
        raise
    if target is not None:
        fs.rename(temp, dst)
    else:
        _commit_new(env, temp, dst, is_dir=stat.S_ISDIR(info.st_mode))
    fs.fsync_parent_before_report(dst)
    return succeeded(step, env, dst)


def converged(
    step: Step, env: OpEnv, expected: Fingerprint, current: Fingerprint | None
) -> Outcome | None:
    """A copy's source must be as planned: a changed or vanished source is never 'done'."""
    return None


def _commit_new(env: OpEnv, temp: bytes, dst: bytes, *, is_dir: bool) -> None:
    fs = env.fs
    try:
        if is_dir:
            fs.rename_noreplace(temp, dst)
            return
        fs.link(temp, dst)
    except FileExistsError:
        fs.discard(temp)
        raise appeared(dst) from None
    fs.unlink(temp)
