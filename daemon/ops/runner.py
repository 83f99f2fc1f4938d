"""Runs one Step with the op of its kind; the only entry point workers call.

Each op module exposes ``run(step, env, expected=None) -> Outcome`` and
``converged(step, env, expected, current) -> Outcome | None``. Ops report expected failures as
failed Outcomes (or raise ``OpFailed``/``OSError``, converted here); an exception escaping an
op is a bug in that op and is turned into a permanent failure here, so one bad item never
takes a worker down.

``expected`` is the fingerprint of ``step.path`` the plan was validated against (or the
INTENT's pre-state on a re-run after a crash). When the path no longer matches it (see
:func:`matches`), the op's ``converged`` decides whether an earlier run already did the work
(then the outcome says "already done" and nothing happens twice); otherwise the step fails
permanently. A step with a ``digest`` (a rollback step) also needs ``step.path``, when it is a
regular file, to hold that content: an edit that kept the size and the times is a conflict.
"""

from __future__ import annotations

import stat
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from batchd.daemon.ops import (
    call,
    checksum,
    copy,
    delete,
    mkdir,
    move,
    restore,
    rmdir,
    transform,
)
from batchd.daemon.ops.content import content_digest
from batchd.daemon.ops.env import OpEnv
from batchd.daemon.ops.errors import OpFailed, changed, classify, describe, show, vanished
from batchd.daemon.ops.outcomes import fingerprint_or_none
from batchd.daemon.ops.step import ErrorKind, Fingerprint, OpKind, Outcome, Step

Run = Callable[[Step, OpEnv, Fingerprint | None], Outcome]
Converged = Callable[[Step, OpEnv, Fingerprint, Fingerprint | None], Outcome | None]
RunMatched = Callable[[Step, OpEnv, Fingerprint], Outcome]


@dataclass(frozen=True, slots=True)
class Op:
    """One op kind: its name for messages, how to run it, how to recognise it was done.

    ``run_matched``, where an op has one, runs it when ``step.path`` was just fingerprinted
    and found to match the expected pre-state: it saves the op looking at it again.
    """

    name: str
    run: Run
    converged: Converged
    run_matched: RunMatched | None = None


OPS: Final[dict[OpKind, Op]] = {
    OpKind.MOVE: Op("move", move.run, move.converged, move.run_matched),
    OpKind.COPY: Op("copy", copy.run, copy.converged),
    OpKind.DELETE: Op("delete", delete.run, delete.converged),
    OpKind.MKDIR: Op("mkdir", mkdir.run, mkdir.converged),
    OpKind.TRANSFORM: Op("transform", transform.run, transform.converged),
    OpKind.CHECKSUM: Op("checksum", checksum.run, checksum.converged),
    OpKind.CALL: Op("call", call.run, call.converged),
    OpKind.RESTORE: Op("restore", restore.run, restore.converged),
    OpKind.RMDIR: Op("rmdir", rmdir.run, rmdir.converged),
}


def matches(current: Fingerprint | None, expected: Fingerprint) -> bool:
    """True when ``current`` is what ``expected`` describes. A directory is compared by
    (dev, ino, mode) only: its size and mtime change whenever entries come and go."""
    if expected.ino == 0:  # ABSENT: nothing was there
        return current is None
    if current is None:
        return False
    if expected.kind == stat.S_IFDIR:
        return (current.dev, current.ino, current.mode) == (
            expected.dev,
            expected.ino,
            expected.mode,
        )
    return current == expected


def run_step(step: Step, env: OpEnv, expected: Fingerprint | None = None) -> Outcome:
    """Run ``step``; never raises (except BaseExceptions such as KeyboardInterrupt)."""
    op = OPS.get(step.op)
    if op is None:
        return Outcome.failure(step.index, ErrorKind.PERMANENT, f"unknown op {step.op!r}")
    try:
        if expected is not None or step.digest:
            current = fingerprint_or_none(env, step.path)
            if expected is not None and not matches(current, expected):
                done = op.converged(step, env, expected, current)
                if done is not None:
                    return done
                raise vanished(step.path) if current is None else changed(step.path)
            if step.digest and current is not None and current.kind == stat.S_IFREG:
                _check_digest(step, env, checked_times=expected is not None)
            if current is not None and not step.digest and op.run_matched is not None:
                return op.run_matched(step, env, current)  # no read since the look
        return op.run(step, env, expected)
    except OpFailed as exc:
        return Outcome.failure(step.index, exc.kind, exc.message, exc.diagnostics)
    except OSError as exc:
        return Outcome.failure(step.index, classify(exc), describe(exc, f"running {op.name}"))
    except Exception as exc:  # one item's bug must not kill the worker
        first = str(exc).splitlines()[0] if str(exc) else ""
        message = f"internal error in {op.name}: {type(exc).__name__}: {first}"
        return Outcome.failure(step.index, ErrorKind.PERMANENT, message)


def _check_digest(step: Step, env: OpEnv, *, checked_times: bool) -> None:
    """Fail PERMANENT when ``step.path``'s content no longer has ``step.digest``."""
    if content_digest(env.fs, step.path) != step.digest:
        same = "same size and times, " if checked_times else ""
        raise OpFailed(
            ErrorKind.PERMANENT,
            f"{show(step.path)} was changed since ({same}different content); left untouched",
        )
