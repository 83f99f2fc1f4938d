"""CPU-bound items with 1 worker vs 2: the speed-up of batchd's worker pool.

Run: ``.venv/bin/python tests/bench/bench_scaling.py [--quick] [--items N] [--repeats N]``.
Prints a table, then as its last line one JSON object with the results.

Each item is a ``checksum`` (sha256) of one file sized so that hashing it takes about 50 ms
here: the size is measured first by hashing a 16 MiB file with the op's own ``hash_file``
(page cache warm; the fastest of 7 probes, least disturbed by other load). A plan of 40 such
items (all of the same file: read-only items do not depend on each other, so they all run in
parallel) goes to two daemons started side by side, one with ``max_workers = 1`` and one
with ``max_workers = 2`` (TOML config); the runs alternate between them. Time is the batch's
``elapsed`` (acceptance to completion, daemon clock), so validation is left out. Baseline
in the same run: the same 40 hashes in this process, one after the other ("serial"). Median
of 3 (quick: 10 items, 1 run). Goal: speed-up >= 1.85.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "helpers"))

from running_daemon import RunningDaemon

from batchd.daemon.ops.content import hash_file
from batchd.daemon.ops.fs import FileSystem
from batchd.protocol.batch_messages import BatchState

ITEM_SECONDS = 0.050
PROBE_BYTES = 16 << 20
GOAL_SPEEDUP = 1.85


def hash_seconds(path: Path, repeats: int) -> list[float]:
    """Seconds of each of ``repeats`` sha256 of ``path``, done the way the checksum op does."""
    fs = FileSystem()
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        hash_file(fs, os.fsencode(path), "sha256")
        samples.append(time.perf_counter() - started)
    return samples


def make_input(root: Path) -> tuple[Path, int]:
    """A file whose checksum takes about ITEM_SECONDS (sized by the fastest of 7 probes, the
    least disturbed by other load); its path and size."""
    path = root / "input.bin"
    path.write_bytes(os.urandom(PROBE_BYTES))
    hash_seconds(path, 1)  # warm the page cache
    size = int(PROBE_BYTES * ITEM_SECONDS / min(hash_seconds(path, 7))) // 4096 * 4096
    block = os.urandom(1 << 20)
    with path.open("wb") as out:
        for offset in range(0, size, len(block)):
            out.write(block[: min(len(block), size - offset)])
    hash_seconds(path, 1)
    return path, size


def daemon_with(root: Path, workers: int) -> RunningDaemon:
    """A daemon (not started) with ``max_workers = workers`` from a TOML config file."""
    config = root / f"w{workers}.toml"
    config.write_text(f"max_workers = {workers}\n")
    return RunningDaemon(
        root, args=("--log-level", "info", "--config", str(config)), name=f"w{workers}"
    )


def run_batch(daemon: RunningDaemon, plan: bytes, cwd: Path) -> float:
    """Submit, wait for completion; the batch's own elapsed seconds."""
    status = daemon.submit(plan, cwd, name="scaling")
    assert status.batch is not None, status.problems[:5]
    progress = daemon.wait_batch(status.batch, timeout=300)
    assert progress.state is BatchState.COMPLETED, progress
    return progress.elapsed


def stop_daemon(daemon: RunningDaemon) -> None:
    """SIGTERM the daemon, wait for it and its children; kill whatever is left."""
    if daemon.process is None or daemon.process.poll() is not None:
        return
    children = psutil.Process(daemon.process.pid).children(recursive=True)
    try:
        daemon.stop()
    except subprocess.TimeoutExpired:
        daemon.kill()
    _, alive = psutil.wait_procs(children, timeout=10)
    for child in alive:
        child.kill()


def main() -> None:
    """Measure both pool sizes and print a table and a JSON line."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--items", type=int)
    parser.add_argument("--repeats", type=int)
    args = parser.parse_args()
    items = args.items or (10 if args.quick else 40)
    repeats = args.repeats or (1 if args.quick else 3)
    with tempfile.TemporaryDirectory(prefix="bench-scaling-") as tmp:
        root = Path(tmp)
        path, size = make_input(root)
        line = json.dumps({"op": "checksum", "path": path.name, "algorithm": "sha256"})
        plan = f"{line}\n".encode() * items
        daemons: dict[int, RunningDaemon] = {}
        samples: dict[int, list[float]] = {0: [], 1: [], 2: []}
        try:
            for workers in (1, 2):
                daemons[workers] = daemon_with(root, workers)
                daemons[workers].start()
            for workers in (1, 2):  # warm-up: workers started, imports done, cache hot
                run_batch(daemons[workers], plan[: len(plan) // items * 2], root)
            for _ in range(repeats):
                samples[0].append(sum(hash_seconds(path, items)))
                for workers in (1, 2):
                    samples[workers].append(run_batch(daemons[workers], plan, root))
        finally:
            for daemon in daemons.values():
                stop_daemon(daemon)

    ideal, one, two = (statistics.median(samples[workers]) for workers in (0, 1, 2))
    item_seconds = ideal / items
    results = {
        "items": items,
        "repeats": repeats,
        "file_bytes": size,
        "item_ms": item_seconds * 1e3,
        "w1_seconds": one,
        "w2_seconds": two,
        "w1_per_s": items / one,
        "w2_per_s": items / two,
        "serial_seconds": ideal,
        "speedup": one / two,
        "w1_vs_serial": ideal / one,
        "w2_vs_serial": ideal / two,
    }
    print(
        f"scaling: {items} sha256 checksums of {size / 2**20:.1f} MiB "
        f"({item_seconds * 1e3:.1f} ms each in-process, median), median of {repeats}, "
        f"cpus={os.cpu_count()}"
    )
    print(f"{'':22}{'seconds':>10}{'items/s':>10}{'serial/this':>12}")
    print(f"{'in-process, serial':22}{ideal:10.3f}{items / ideal:10.1f}{1.0:12.2f}")
    print(f"{'max_workers = 1':22}{one:10.3f}{items / one:10.1f}{ideal / one:12.2f}")
    print(f"{'max_workers = 2':22}{two:10.3f}{items / two:10.1f}{ideal / two:12.2f}")
    verdict = "met" if results["speedup"] >= GOAL_SPEEDUP else "NOT met"
    print(f"speed-up 2 vs 1 workers: {results['speedup']:.3f} (goal >= {GOAL_SPEEDUP}: {verdict})")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
