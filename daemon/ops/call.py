"""call: run an installed Python handler (entry-point group ``batchd.handlers``) on a path.

The handler first declares the paths it will change (``paths(path, args)``); with rollback
on, each existing one is kept in the undo store BY COPY (entry ``<index>`` for the first,
``<index>.<n>`` for the n-th), because a handler may modify a file in place, which a
hardlink would not freeze. The declared list itself is written first, as the step's manifest
(:meth:`UndoStore.write_manifest`), so a rollback knows which paths to restore or remove.
Then ``run(path, args)`` does the work in this worker process and returns a short result.
See ``batchd.daemon.ops.handlers`` and ``docs/handlers.md``.

``step.args`` is the msgpack encoding of the plan item's ``args`` map. Any exception from
the handler fails the item permanently with "handler NAME raised ExcType: message".
"""

from __future__ import annotations

import os
from typing import Any, Final

import msgpack

from batchd.daemon.ops.env import Intent, OpEnv
from batchd.daemon.ops.errors import OpFailed
from batchd.daemon.ops.handlers import UnknownHandler
from batchd.daemon.ops.outcomes import succeeded
from batchd.daemon.ops.step import ErrorKind, Fingerprint, Outcome, Step

RESULT_LIMIT: Final = 1000


def run(step: Step, env: OpEnv, expected: Fingerprint | None = None) -> Outcome:
    """Run handler ``step.handler`` on ``step.path``."""
    name = step.handler
    try:
        handler = env.handlers.get(name)
    except UnknownHandler as exc:
        raise OpFailed(ErrorKind.PERMANENT, str(exc)) from None
    except Exception as exc:
        message = f"handler {name} could not be loaded: {_one_line(exc)}"
        raise OpFailed(ErrorKind.PERMANENT, message) from None
    args = _decode_args(step)
    path = os.fsdecode(step.path)
    try:
        declared = [os.fsencode(p) for p in handler.paths(path, args)]
    except Exception as exc:
        raise OpFailed(ErrorKind.PERMANENT, f"handler {name} raised {_one_line(exc)}") from None
    base = os.path.dirname(step.path)
    declared = [os.path.join(base, p) for p in declared]
    entries = []
    if env.enable_rollback:
        env.undo.write_manifest(env.batch, step.index, declared)
        entries = _keep_originals(step, env, declared)
    pre = _fingerprint(env, step.path)
    env.intent(step, Intent(step.index, "call", pre, undo=entries[0] if entries else None))
    try:
        result = handler.run(path, args)
    except Exception as exc:
        raise OpFailed(ErrorKind.PERMANENT, f"handler {name} raised {_one_line(exc)}") from None
    text = "" if result is None else str(result)[:RESULT_LIMIT]
    return succeeded(step, env, step.path, text)


def converged(
    step: Step, env: OpEnv, expected: Fingerprint, current: Fingerprint | None
) -> Outcome | None:
    """Whether a handler finished cannot be told from the tree: never 'done'. A handler
    whose path was absent before (it creates it) runs again, as it always did."""
    return run(step, env, None) if expected.ino == 0 else None


def _keep_originals(step: Step, env: OpEnv, declared: list[bytes]) -> list[bytes]:
    entries = []
    for part, target in enumerate(declared):
        if env.fs.exists(target):
            entries.append(env.undo.keep_by_copy(target, env.batch, step.index, part).entry)
    return entries


def _decode_args(step: Step) -> dict[str, Any]:
    if not step.args:
        return {}
    try:
        args = msgpack.unpackb(step.args, raw=False)
    except Exception as exc:
        raise OpFailed(ErrorKind.PERMANENT, f"bad handler args: {_one_line(exc)}") from None
    if not isinstance(args, dict):
        raise OpFailed(
            ErrorKind.PERMANENT, f"handler args must be a map, got {type(args).__name__}"
        )
    return args


def _fingerprint(env: OpEnv, path: bytes) -> Fingerprint | None:
    try:
        return Fingerprint.of(env.fs.lstat(path))
    except FileNotFoundError:
        return None


def _one_line(exc: BaseException) -> str:
    lines = str(exc).splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
