"""CPU-bound items with 1 worker vs 2: the speed-up of batchd's worker pool.

Run: ``.venv/bin/python tests/bench/bench_scaling.py [--quick] [--items N] [--repeats N]``.
Prints a table, then as its last line one JSON object with the results.

Each item is a ``checksum`` (sha256) of one file sized so that hashing it takes about 50 ms
here: the size is measured first by hashing a 16 MiB file with the op's own ``hash_file``
(page cache warm; the fastest of 7 probes, least disturbed by other load). A plan of 40 such
items (all of the same file: read-only items do not depend on each other, so they all run in
parallel) goes to two daemons started side by side, one with ``max_workers = 1`` and one
with ``max_workers = 2`` (TOML config); the runs alternate between them. Time is the batch's
``elapsed`` (acceptance to completion, daemon clock), so validation is left out. Baselines
in the same run: the same 40 hashes in this process one after the other ("serial"), and
spread over 2 bare processes (``ProcessPoolExecutor``, one item per task), which shows the
speed-up the machine itself allows. Median of 3 (quick: 10 items, 1 run). Goal: batchd's
speed-up (1 worker's time / 2 workers' time) >= 1.85.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

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


def hash_path(path: Path) -> None:
    """One checksum item's work, in a pool process."""
    hash_file(FileSystem(), os.fsencode(path), "sha256")


def bare_pool(pool: ProcessPoolExecutor, path: Path, items: int) -> float:
    """Seconds for two bare processes to hash ``items`` times, one item per task."""
    started = time.perf_counter()
    list(pool.map(hash_path, [path] * items))
    return time.perf_counter() - started


def measure(root: Path, items: int, repeats: int) -> tuple[int, dict[str, list[float]]]:
    """The input's size and the samples: serial, bare pool, batchd with 1 and 2 workers."""
    path, size = make_input(root)
    line = json.dumps({"op": "checksum", "path": path.name, "algorithm": "sha256"})
    plan = f"{line}\n".encode() * items
    daemons: dict[int, RunningDaemon] = {}
    samples: dict[str, list[float]] = {"serial": [], "bare2": [], "w1": [], "w2": []}
    with ProcessPoolExecutor(2) as pool:
        try:
            for workers in (1, 2):
                daemons[workers] = daemon_with(root, workers)
                daemons[workers].start()
            bare_pool(pool, path, 4)  # warm-up: processes started, imports done, cache hot
            for workers in (1, 2):
                run_batch(daemons[workers], plan[: len(plan) // items * 2], root)
            for _ in range(repeats):
                samples["serial"].append(sum(hash_seconds(path, items)))
                samples["bare2"].append(bare_pool(pool, path, items))
                for workers in (1, 2):
                    samples[f"w{workers}"].append(run_batch(daemons[workers], plan, root))
        finally:
            for daemon in daemons.values():
                daemon.shutdown()
    return size, samples


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
        size, samples = measure(Path(tmp), items, repeats)

    median = {name: statistics.median(values) for name, values in samples.items()}
    serial, one, two = median["serial"], median["w1"], median["w2"]
    results = {
        "items": items,
        "repeats": repeats,
        "file_bytes": size,
        "item_ms": serial / items * 1e3,
        "serial_seconds": serial,
        "bare2_seconds": median["bare2"],
        "w1_seconds": one,
        "w2_seconds": two,
        "w1_per_s": items / one,
        "w2_per_s": items / two,
        "speedup": one / two,
        "bare_speedup": serial / median["bare2"],
        "w2_vs_bare2": median["bare2"] / two,
    }
    print(
        f"scaling: {items} sha256 checksums of {size / 2**20:.1f} MiB "
        f"({results['item_ms']:.1f} ms each in-process), median of {repeats}, "
        f"cpus={os.cpu_count()}"
    )
    print(f"{'':36}{'seconds':>10}{'items/s':>10}{'serial/this':>12}")
    for name, label in (
        ("serial", "in-process, one after the other"),
        ("bare2", "2 bare processes (ProcessPool)"),
        ("w1", "batchd max_workers = 1"),
        ("w2", "batchd max_workers = 2"),
    ):
        seconds = median[name]
        print(f"{label:36}{seconds:10.3f}{items / seconds:10.1f}{serial / seconds:12.2f}")
    verdict = "met" if results["speedup"] >= GOAL_SPEEDUP else "NOT met"
    print(
        f"speed-up batchd 2 vs 1 workers: {results['speedup']:.3f} (goal >= {GOAL_SPEEDUP}: "
        f"{verdict}); the machine's own (2 bare processes vs serial): "
        f"{results['bare_speedup']:.3f}"
    )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
