"""Runs one Step with the op of its kind; the only entry point workers call.

Each op module exposes ``run(step, env, expected=None) -> Outcome`` and
``converged(step, env, expected, current) -> Outcome | None``. Ops report expected failures as
failed Outcomes (or raise ``OpFailed``/``OSError``, converted here); an exception escaping an
op is a bug in that op and is turned into a permanent failure here, so one bad item never
takes a worker down.

``expected`` is the fingerprint of ``step.path`` the plan was validated against (or the
INTENT's pre-state on a re-run after a crash). When the path no longer matches it, the op's
``converged`` decides whether an earlier run already did the work (then the outcome says
"already done" and nothing happens twice); otherwise the step fails permanently.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from batchd.daemon.ops import call, checksum, copy, delete, mkdir, move, transform
from batchd.daemon.ops.env import OpEnv
from batchd.daemon.ops.errors import OpFailed, changed, classify, describe, vanished
from batchd.daemon.ops.outcomes import fingerprint_or_none
from batchd.daemon.ops.step import ErrorKind, Fingerprint, OpKind, Outcome, Step

Run = Callable[[Step, OpEnv, Fingerprint | None], Outcome]
Converged = Callable[[Step, OpEnv, Fingerprint, Fingerprint | None], Outcome | None]


@dataclass(frozen=True, slots=True)
class Op:
    """One op kind: its name for messages, how to run it, how to recognise it was done."""

    name: str
    run: Run
    converged: Converged


OPS: Final[dict[OpKind, Op]] = {
    OpKind.MOVE: Op("move", move.run, move.converged),
    OpKind.COPY: Op("copy", copy.run, copy.converged),
    OpKind.DELETE: Op("delete", delete.run, delete.converged),
    OpKind.MKDIR: Op("mkdir", mkdir.run, mkdir.converged),
    OpKind.TRANSFORM: Op("transform", transform.run, transform.converged),
    OpKind.CHECKSUM: Op("checksum", checksum.run, checksum.converged),
    OpKind.CALL: Op("call", call.run, call.converged),
}


def run_step(step: Step, env: OpEnv, expected: Fingerprint | None = None) -> Outcome:
    """Run ``step``; never raises (except BaseExceptions such as KeyboardInterrupt)."""
    op = OPS.get(step.op)
    if op is None:
        return Outcome.failure(step.index, ErrorKind.PERMANENT, f"unknown op {step.op!r}")
    try:
        if expected is not None:
            current = fingerprint_or_none(env, step.path)
            if current != expected:
                done = op.converged(step, env, expected, current)
                if done is not None:
                    return done
                raise vanished(step.path) if current is None else changed(step.path)
        return op.run(step, env, expected)
    except OpFailed as exc:
        return Outcome.failure(step.index, exc.kind, exc.message, exc.diagnostics)
    except OSError as exc:
        return Outcome.failure(step.index, classify(exc), describe(exc, f"running {op.name}"))
    except Exception as exc:  # one item's bug must not kill the worker
        first = str(exc).splitlines()[0] if str(exc) else ""
        message = f"internal error in {op.name}: {type(exc).__name__}: {first}"
        return Outcome.failure(step.index, ErrorKind.PERMANENT, message)
