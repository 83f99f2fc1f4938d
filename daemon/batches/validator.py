"""The plan validator process: ``python -m batchd.daemon.batches.validator --plan … --out …``.

Started by the daemon for every finished upload (see ``uploads``). It reads the spooled plan,
validates it against the real file system, writes the validated plan store into ``--out``
(unless the plan is invalid or this is a dry run) and, last, a summary file the daemon reads:
msgpack ``[valid, total, problem_count, [[line, message]…], [[index, line, op, path, dest,
level]…]]``. Exit status 0 whenever a summary was written, valid or not.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import msgpack

from batchd.daemon.batches.summary import (
    PREVIEW_BYTES,
    PREVIEW_STEPS,
    PROBLEMS_SHOWN,
    SUMMARY_NAME,
)
from batchd.daemon.ops.command_policy import commands_in_force, refusal
from batchd.daemon.ops.roots import PathGuard
from batchd.daemon.ops.step import OpKind, Step
from batchd.daemon.plan.fsview import OsFileSystemView
from batchd.daemon.plan.reader import read_plan_lines
from batchd.daemon.plan.store import PlanStoreWriter
from batchd.daemon.plan.validate import validate_plan


def run(
    plan: Path, cwd: bytes, out: Path, *, batch: int, handlers: list[str], dry_run: bool
) -> int:
    """Validate ``plan`` and write the store and the summary into ``out``."""
    out.mkdir(mode=0o700, parents=True, exist_ok=True)
    with plan.open("rb") as data:
        result = validate_plan(
            read_plan_lines(data),
            cwd=cwd,
            fs=OsFileSystemView(),
            batch=batch,
            known_handlers=handlers,
            max_problems=PROBLEMS_SHOWN,
        )
    steps = result.steps
    outside = _outside_roots(steps) if steps is not None else []
    valid = result.ok and steps is not None and not outside
    if steps is not None and not dry_run and not outside:
        PlanStoreWriter(out, batch=batch).write(steps, steps.levels)
    preview = []
    budget = PREVIEW_BYTES
    if steps is not None:
        for position in range(min(PREVIEW_STEPS, len(steps))):
            step = steps[position]
            budget -= len(step.path) + len(step.dest or b"")
            if budget < 0:
                break
            op = step.op.name.lower()
            preview.append(
                [step.index, step.line, op, step.path, step.dest, steps.levels[position]]
            )
    problems = [[p.line, p.message] for p in result.problems[:PROBLEMS_SHOWN]]
    problems = (problems + outside)[:PROBLEMS_SHOWN]
    # A batch counts steps: one per plan line, plus one per rename routed through a
    # temporary name (swaps and cycles); an invalid plan reports its lines.
    total = len(steps) if steps is not None else result.total_lines
    summary = [valid, total, result.problem_count + len(outside), problems, preview]
    temp = out / f".{SUMMARY_NAME}.tmp"
    with temp.open("wb") as file:
        file.write(msgpack.packb(summary, use_bin_type=True))
        file.flush()
        os.fsync(file.fileno())
    os.replace(temp, out / SUMMARY_NAME)
    return 0


def _outside_roots(steps: Sequence[Step]) -> list[list[object]]:
    """``[line, message]`` for every path of the plan the allowed roots do not admit (a path
    outside them, or reaching through a symlink) and every transform command the allow-list
    does not name; empty without either."""
    guard = PathGuard.from_environment()
    commands = commands_in_force()
    if guard is None and commands is None:
        return []
    found: list[list[object]] = []
    seen: set[bytes] = set()
    for step in steps:
        if step.op is OpKind.TRANSFORM:
            why_not = refusal(step.command, commands)
            if why_not is not None:
                found.append([step.line, why_not])
        if guard is None:
            continue
        for path in (step.path, step.dest):
            if path is None or path in seen:
                continue
            seen.add(path)
            why = guard.check_plan_path(path)
            if why is not None:
                found.append([step.line, f"{os.fsdecode(path)} {why}"])
    found.sort(key=lambda problem: problem[0])  # type: ignore[arg-type,return-value]
    return found


def main(argv: list[str] | None = None) -> int:
    """Command-line entry (the daemon's only caller). With ``--job-from-stdin`` alone (a
    spare started ahead of its job, ``validator_launcher``), the options come as one JSON
    array on a line of stdin; end of input without one: exit 0, nothing done."""
    if (sys.argv[1:] if argv is None else argv) == ["--job-from-stdin"]:
        line = sys.stdin.buffer.readline()
        if not line.strip():
            return 0
        job = json.loads(line)
        if not isinstance(job, list) or not all(isinstance(arg, str) for arg in job):
            raise SystemExit("validator: the job must be a JSON array of strings")
        argv = job
    parser = argparse.ArgumentParser(prog="batchd-validator")
    parser.add_argument("--plan", type=Path, required=True)
    parser.add_argument("--cwd", required=True, help="hex of the client's cwd bytes")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--batch", type=int, required=True)
    parser.add_argument("--handlers", default="")
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args(argv)
    handlers = [h for h in args.handlers.split(",") if h]
    cwd = bytes.fromhex(args.cwd)
    return run(args.plan, cwd, args.out, batch=args.batch, handlers=handlers, dry_run=args.dry_run)


if __name__ == "__main__":
    sys.exit(main())
