"""Building the Outcome of a step: success with the post-state fingerprint of its target."""

from __future__ import annotations

from batchd.daemon.ops.env import OpEnv
from batchd.daemon.ops.step import Fingerprint, Outcome, Step

ALREADY_DONE = "already done"


def succeeded(step: Step, env: OpEnv, target: bytes | None, result: str = "") -> Outcome:
    """A successful Outcome; ``post`` fingerprints ``target`` when something is there."""
    post = None
    if target is not None:
        try:
            post = Fingerprint.of(env.fs.lstat(target))
        except FileNotFoundError:
            post = None
    return Outcome(step.index, True, result=result, post=post)


def fingerprint_or_none(env: OpEnv, path: bytes) -> Fingerprint | None:
    """The fingerprint of ``path``, or None when nothing is there."""
    try:
        return Fingerprint.of(env.fs.lstat(path))
    except FileNotFoundError:
        return None
