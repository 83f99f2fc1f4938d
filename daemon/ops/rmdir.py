"""rmdir (a rollback step, the inverse of mkdir): remove the empty directory ``step.path``.

The one visible syscall: ``rmdir``. A directory that is not empty is a conflict (something was
added since the batch ran) and is left alone; so is anything that is not a directory. A path
that is already gone is "already done": nothing is left where the rollback wants nothing.
"""

from __future__ import annotations

import errno
import stat

from batchd.daemon.ops.env import Intent, OpEnv
from batchd.daemon.ops.errors import OpFailed, refused, show
from batchd.daemon.ops.outcomes import ALREADY_DONE, succeeded
from batchd.daemon.ops.step import ErrorKind, Fingerprint, Outcome, Step


def run(step: Step, env: OpEnv, expected: Fingerprint | None = None) -> Outcome:
    """Remove the empty directory ``step.path``."""
    fs, path = env.fs, step.path
    try:
        info = fs.lstat(path)
    except FileNotFoundError:
        return succeeded(step, env, None, ALREADY_DONE)
    if not stat.S_ISDIR(info.st_mode):
        raise refused("is not a directory (it was replaced since); left untouched", path)
    env.intent(step, Intent(step.index, "rmdir", Fingerprint.of(info)))
    try:
        fs.rmdir(path)
    except OSError as exc:
        if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
            message = f"{show(path)} is not empty: something was added since; left untouched"
            raise OpFailed(ErrorKind.PERMANENT, message) from None
        raise
    fs.fsync_parent_before_report(path)
    return succeeded(step, env, None)


def converged(
    step: Step, env: OpEnv, expected: Fingerprint, current: Fingerprint | None
) -> Outcome | None:
    """Done when the directory is gone."""
    if current is None:
        return succeeded(step, env, None, ALREADY_DONE)
    return None
