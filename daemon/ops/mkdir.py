"""mkdir: create one directory (mode 0o777 & ~umask). The one visible syscall: ``mkdir``.

An existing directory is success with result ``"exists"`` (a rollback then leaves it alone);
an existing non-directory or a missing parent is a permanent failure.
"""

from __future__ import annotations

import stat

from batchd.daemon.ops.env import Intent, OpEnv
from batchd.daemon.ops.errors import refused
from batchd.daemon.ops.outcomes import succeeded
from batchd.daemon.ops.step import Fingerprint, Outcome, Step

CREATED = "created"
EXISTS = "exists"


def run(step: Step, env: OpEnv, expected: Fingerprint | None = None) -> Outcome:
    """Create ``step.path``."""
    fs, path = env.fs, step.path
    env.intent(step, Intent(step.index, "mkdir", None))
    try:
        fs.mkdir(path, 0o777)
    except FileExistsError:
        if stat.S_ISDIR(fs.lstat(path).st_mode):
            return succeeded(step, env, path, EXISTS)
        raise refused("exists and is not a directory", path) from None
    except FileNotFoundError:
        raise refused("the parent directory does not exist", path) from None
    fs.fsync_parent_before_report(path)
    return succeeded(step, env, path, CREATED)


def converged(
    step: Step, env: OpEnv, expected: Fingerprint, current: Fingerprint | None
) -> Outcome | None:
    """A directory that is there is all mkdir wants; when the journaled pre-state says
    nothing was there (``expected`` is ABSENT), this batch's interrupted run created it, and
    the result says so (a rollback then removes it again)."""
    if current is not None and current.kind == stat.S_IFDIR:
        return succeeded(step, env, step.path, CREATED if expected.ino == 0 else EXISTS)
    return None
