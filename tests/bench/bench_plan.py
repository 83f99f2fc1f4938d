"""Benchmark of plan validation and the plan store: time and Python memory per item.

Run: ``.venv/bin/python tests/bench/bench_plan.py [--quick] [--items N] [--dir DIR]``.
Prints a table, then as its last line one JSON object with the results.

The plan mixes what users submit: renames inside directories (with swaps and chains), copies
into new directories, checksums, transforms and deletes, over an in-memory filesystem of the
sources (``MemoryFileSystemView``), so the numbers measure the validator, not the disk.

- validate: wall time per item (median of 3 runs, tracemalloc off), and the peak of Python
  memory allocated during validation per item (tracemalloc, one run). Targets: ~20 µs and
  ≤ 300 bytes per item.
- store: writing the validated steps to a plan store, and reading them all back in chunks
  of 1,000 with ``PlanStore.read``.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import tempfile
import time
import tracemalloc
from pathlib import Path

from batchd.daemon.plan import (
    MemoryFileSystemView,
    PlanStore,
    PlanStoreWriter,
    ValidationResult,
    validate_plan,
)

FILES_PER_DIR = 500
TARGET_US = 20.0
TARGET_BYTES = 300.0


def make_plan(items: int) -> tuple[list[tuple[int, bytes]], MemoryFileSystemView]:
    """``items`` plan lines and a filesystem holding every source they need."""
    fs = MemoryFileSystemView()
    fs.add_dir(b"/data/sorted")
    lines: list[str] = []
    directory = 0
    while len(lines) < items:
        base = f"/data/photos/{directory:05d}"
        names = [f"{base}/IMG_{n:05d}.JPG" for n in range(FILES_PER_DIR)]
        for number, name in enumerate(names):
            fs.add_file(name.encode(), size=1000 + number)
        out = f"/data/sorted/{directory:05d}"
        lines.append(json.dumps({"op": "mkdir", "path": out}))
        for number, name in enumerate(names):
            kind = number % 20
            if kind < 10:  # plain rename
                dst = f"{base}/photo-{number:05d}.jpg"
                lines.append(json.dumps({"op": "move", "src": name, "dst": dst}))
            elif kind < 12:  # swaps with the next name
                other = names[number + 1] if kind == 10 else names[number - 1]
                lines.append(json.dumps({"op": "move", "src": name, "dst": other}))
            elif kind < 16:
                dst = f"{out}/copy-{number:05d}.jpg"
                lines.append(json.dumps({"op": "copy", "src": name, "dst": dst}))
            elif kind < 18:
                lines.append(json.dumps({"op": "checksum", "path": name}))
            elif kind == 18:
                command = ["exiftool", "-all=", "-"]
                lines.append(json.dumps({"op": "transform", "path": name, "command": command}))
            else:
                lines.append(json.dumps({"op": "delete", "path": name}))
        directory += 1
    numbered = [(n, line.encode()) for n, line in enumerate(lines[:items], start=1)]
    return numbered, fs


def validate(lines: list[tuple[int, bytes]], fs: MemoryFileSystemView) -> ValidationResult:
    return validate_plan(lines, cwd=b"/data", fs=fs, batch=1, known_handlers=())


def bench_validate(
    lines: list[tuple[int, bytes]], fs: MemoryFileSystemView, repeats: int
) -> dict[str, float]:
    times = []
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        result = validate(lines, fs)
        times.append(time.perf_counter() - start)
        assert result.ok, result.problems[:5]
        del result
    gc.collect()
    tracemalloc.start()
    result = validate(lines, fs)
    retained, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert result.steps is not None
    count = len(lines)
    return {
        "items": count,
        "steps": len(result.steps),
        "seconds": statistics.median(times),
        "us_per_item": statistics.median(times) / count * 1e6,
        "peak_bytes_per_item": peak / count,
        "retained_bytes_per_item": retained / count,
    }


def bench_store(
    lines: list[tuple[int, bytes]], fs: MemoryFileSystemView, root: Path
) -> dict[str, float]:
    result = validate(lines, fs)
    assert result.steps is not None
    steps = result.steps
    start = time.perf_counter()
    PlanStoreWriter(root / "store", batch=1).write(steps, steps.levels)
    write_s = time.perf_counter() - start
    start = time.perf_counter()
    read = 0
    with PlanStore.open(root / "store") as store:
        for first in range(0, store.total, 1000):
            read += len(store.read(first, 1000))
        levels = len(store.levels)
    read_s = time.perf_counter() - start
    assert read == len(steps)
    return {
        "write_s": write_s,
        "write_us_per_step": write_s / read * 1e6,
        "read_s": read_s,
        "read_us_per_step": read_s / read * 1e6,
        "bytes_on_disk": sum(p.stat().st_size for p in (root / "store").iterdir()),
        "levels": levels,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few-second run (5,000 items)")
    parser.add_argument("--items", type=int, default=None, help="plan size (default 100,000)")
    parser.add_argument("--dir", type=Path, default=None, help="where to write the store")
    args = parser.parse_args()
    items = args.items or (5_000 if args.quick else 100_000)
    lines, fs = make_plan(items)
    validation = bench_validate(lines, fs, 1 if args.quick else 3)
    with tempfile.TemporaryDirectory(dir=args.dir) as root:
        store = bench_store(lines, fs, Path(root))
    print(f"{'measure':<34}{'value':>14}{'target':>12}")
    print(f"{'items':<34}{validation['items']:>14,}")
    print(f"{'steps':<34}{validation['steps']:>14,}")
    print(f"{'validate, µs per item':<34}{validation['us_per_item']:>14.1f}{TARGET_US:>12.0f}")
    print(f"{'validate, peak bytes per item':<34}{validation['peak_bytes_per_item']:>14.0f}"
          f"{TARGET_BYTES:>12.0f}")  # fmt: skip
    print(f"{'result, retained bytes per item':<34}{validation['retained_bytes_per_item']:>14.0f}")
    print(f"{'store write, µs per step':<34}{store['write_us_per_step']:>14.1f}")
    print(f"{'store read, µs per step':<34}{store['read_us_per_step']:>14.1f}")
    print(f"{'store size, bytes':<34}{store['bytes_on_disk']:>14,}")
    print(json.dumps({"quick": args.quick, "validate": validation, "store": store}))


if __name__ == "__main__":
    main()
