"""Rolling back 20,000 moves: batchd's rollback vs the forward batch and a bare rename loop.

Run: ``.venv/bin/python tests/bench/bench_rollback.py [--quick] [--files N] [--repeats N]``.
Prints a table, then as its last line one JSON object with the results.

Each run moves a fresh tree of ``N`` empty files (bench_moves.make_tree) through the daemon,
then rolls the batch back (``rollback`` request → the rollback batch runs to completion) and
checks that every file is back under its original name. Measured: the rollback's planning
time (the request's round trip: reading the plan and results, writing the undo plan),
its execution time (the rollback batch's ``elapsed``) and rate, the forward batch's rate for
comparison, and a bare ``os.rename`` loop that moves the files back (no checks, no journal).
Medians of ``--repeats`` runs (3; quick: 500 files, 1 run).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "helpers"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_moves import BatchdMoves, make_tree

from batchd.protocol.batch_messages import BatchState
from batchd.protocol.rollback_messages import RollbackReply, RollbackRequest


def rename_back(root: Path, files: int) -> float:
    """Seconds for a bare loop to move a moved tree back (the floor for any rollback)."""
    dest, paths = make_tree(root, files)
    for path in paths:
        os.rename(path, dest / path.name)
    started = time.perf_counter()
    for path in paths:
        os.rename(dest / path.name, path)
    return time.perf_counter() - started


def rollback_run(bench: BatchdMoves, tree: Path, files: int) -> dict[str, float]:
    """One forward batch through the daemon, then its rollback."""
    forward = bench.run(tree, files)
    daemon = bench.daemon
    batches = [b for b in sorted(os.listdir(daemon.state_dir / "batches"), key=int)]
    batch = int(batches[-1])
    started = time.perf_counter()
    reply = daemon.request(RollbackRequest(batches=(batch,)), RollbackReply, timeout=120)
    planned = time.perf_counter() - started
    assert reply.rollback is not None and reply.actions == files, reply
    done = daemon.wait_batch(reply.rollback, timeout=600)
    assert done.state is BatchState.COMPLETED, done
    assert not os.listdir(tree / "dest"), "every file must be back"
    return {
        "forward_per_s": files / forward["exec"],
        "plan_s": planned,
        "exec_per_s": files / done.elapsed,
        "total_per_s": files / (planned + done.elapsed),
    }


def main() -> None:
    """Measure and print a table and a JSON line."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--files", type=int)
    parser.add_argument("--repeats", type=int)
    args = parser.parse_args()
    files = args.files or (500 if args.quick else 20_000)
    repeats = args.repeats or (1 if args.quick else 3)
    with tempfile.TemporaryDirectory(prefix="bench-rollback-") as scratch:
        root = Path(scratch)
        (root / "daemon").mkdir()
        bench = BatchdMoves(root / "daemon")
        try:
            runs = [rollback_run(bench, root / "tree", files) for _ in range(repeats)]
        finally:
            bench.close()
        loop = statistics.median(files / rename_back(root / "loop", files) for _ in range(repeats))
    result = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
    result.update(files=files, repeats=repeats, rename_back_per_s=loop)
    result["rollback_vs_forward"] = result["exec_per_s"] / result["forward_per_s"]
    result["rollback_vs_rename_loop"] = result["total_per_s"] / loop
    print(f"{'rollback of':<28}{files} moves, median of {repeats}")
    for key in ("forward_per_s", "exec_per_s", "total_per_s", "rename_back_per_s"):
        print(f"{key:<28}{result[key]:>12,.0f} items/s")
    print(f"{'plan_s':<28}{result['plan_s']:>12.3f} s")
    print(f"{'rollback_vs_forward':<28}{result['rollback_vs_forward']:>12.2f}")
    print(f"{'rollback_vs_rename_loop':<28}{result['rollback_vs_rename_loop']:>12.3f}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
