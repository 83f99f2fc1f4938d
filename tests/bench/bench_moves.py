"""20,000 moves on one filesystem: batchd vs a bare ``os.rename`` loop vs GNU ``parallel mv``.

Run: ``.venv/bin/python tests/bench/bench_moves.py [--quick] [--files N] [--repeats N]``.
Prints a table, then as its last line one JSON object with the results.

Every run gets a fresh tree: ``N`` empty files spread over 4 source directories, all moved
into one destination directory on the same filesystem (the temp dir's).

(a) batchd (2 workers, rollback on, the default config): the plan is streamed through
    ``submit_begin/chunk/end``; ``wall`` runs from the first request to the daemon's
    ``finished_at``, ``exec`` is the batch's own ``elapsed`` (acceptance to completion).
(b) a bare Python loop of ``os.rename`` over the same pairs (one process, paths prepared
    beforehand), and for reference the same loop with an ``fsync`` of both directories per
    rename (what durable renames cost on this disk).
(c) GNU parallel, ``parallel -j2 mv {} DEST/`` (one ``mv`` process per file: what users
    write; the headline baseline) and ``parallel -j2 -X mv {} DEST/`` (many files per ``mv``).
    The one-process-per-file form runs at a few hundred files/s whatever the count, so it
    moves the first ``--parallel-files`` files of the tree (default 4,000; 20,000 would
    take ~2 minutes per run); its rate is compared.

Rates are items/s, medians of ``--repeats`` runs (3; quick: 500 files, 1 run), all measured
in this one process, interleaved. Goals: batchd/rename-loop >= 0.8, batchd/parallel >= 100.
Also reported: CPU seconds per item of the daemon process and of its children (workers and
the plan validator), from psutil, to show where batchd's time goes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "helpers"))

from running_daemon import RunningDaemon

from batchd.protocol.batch_messages import BatchState

SOURCE_DIRS = 4
GOAL_VS_RENAME = 0.8
GOAL_VS_PARALLEL = 100.0


def make_tree(root: Path, files: int) -> tuple[Path, list[Path]]:
    """``files`` empty files over SOURCE_DIRS directories, and an empty destination."""
    if root.exists():
        shutil.rmtree(root)
    sources = [root / f"src{n}" for n in range(SOURCE_DIRS)]
    for directory in sources:
        directory.mkdir(parents=True)
    dest = root / "dest"
    dest.mkdir()
    paths = [sources[i % SOURCE_DIRS] / f"file-{i:06d}.dat" for i in range(files)]
    for path in paths:
        path.touch()
    return dest, paths


def timed(action: Callable[[], object]) -> float:
    """Seconds ``action`` took."""
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def rename_loop(root: Path, files: int, *, durable: bool) -> float:
    """Seconds for one Python process to rename every file (optionally fsyncing both dirs)."""
    dest, paths = make_tree(root, files)
    pairs = [(os.fspath(path), os.fspath(dest / path.name)) for path in paths]

    def fsync_dir(path: str) -> None:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def run() -> None:
        for src, dst in pairs:
            os.rename(src, dst)
            if durable:
                fsync_dir(os.path.dirname(dst))
                fsync_dir(os.path.dirname(src))

    seconds = timed(run)
    assert len(os.listdir(dest)) == files
    return seconds


def parallel_mv(root: Path, files: int, *, many_per_mv: bool, moved: int) -> float:
    """Seconds for ``parallel -j2 [-X] mv {} DEST/`` over the first ``moved`` files (names
    from a file, as ``::: files`` would overflow the argument list at 20,000 names)."""
    dest, paths = make_tree(root, files)
    paths = paths[:moved]
    listing = root / "files.txt"
    listing.write_text("".join(f"{path}\n" for path in paths))
    command = ["parallel", "--will-cite", "-j2", *(["-X"] if many_per_mv else [])]
    command += ["-a", str(listing), "mv", "{}", f"{dest}/"]
    seconds = timed(lambda: subprocess.run(command, check=True, stdin=subprocess.DEVNULL))
    assert len(os.listdir(dest)) == moved
    return seconds


class BatchdMoves:
    """One daemon for all batchd runs; each run moves a fresh tree."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.daemon = RunningDaemon(root, args=("--log-level", "info"), name="moves")
        try:
            self.daemon.start()
        except BaseException:
            self.daemon.shutdown()
            raise
        assert self.daemon.process is not None
        self.process = psutil.Process(self.daemon.process.pid)

    def run(self, tree: Path, files: int) -> dict[str, float]:
        """Move a fresh tree through the daemon; wall and exec seconds, CPU per item."""
        dest, paths = make_tree(tree, files)
        plan = "".join(
            json.dumps(
                {"op": "move", "src": str(path.relative_to(tree)), "dst": f"dest/{path.name}"}
            )
            + "\n"
            for path in paths
        ).encode()
        before = self.cpu()
        started = time.time()
        status = self.daemon.submit(plan, tree, name="moves")
        assert status.batch is not None, status.problems[:5]
        progress = self.daemon.wait_batch(status.batch, timeout=600)
        after = self.cpu()
        assert progress.state is BatchState.COMPLETED, progress
        assert progress.finished_at is not None
        assert len(os.listdir(dest)) == files
        return {
            "wall": progress.finished_at - started,
            "exec": progress.elapsed,
            "daemon_cpu_us": (after[0] - before[0]) / files * 1e6,
            "children_cpu_us": (after[1] - before[1]) / files * 1e6,
        }

    def cpu(self) -> tuple[float, float]:
        """CPU seconds of the daemon, and of its children (live ones plus reaped ones)."""
        own = self.process.cpu_times()
        children = own.children_user + own.children_system
        for child in self.process.children(recursive=True):
            try:
                times = child.cpu_times()
            except psutil.NoSuchProcess:
                continue
            children += times.user + times.system
        return own.user + own.system, children

    def close(self) -> None:
        """Stop the daemon and make sure none of its processes is left."""
        self.daemon.shutdown()


def main() -> None:
    """Measure all four and print a table and a JSON line."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--files", type=int)
    parser.add_argument("--repeats", type=int)
    parser.add_argument("--parallel-files", type=int, default=4_000)
    args = parser.parse_args()
    files = args.files or (500 if args.quick else 20_000)
    parallel_files = min(files, args.parallel_files)
    repeats = args.repeats or (1 if args.quick else 3)
    samples: dict[str, list[float]] = {
        k: []
        for k in ("batchd_wall", "batchd_exec", "rename", "rename_fsync", "parallel", "parallel_x")
    }
    cpu: dict[str, list[float]] = {"daemon_cpu_us": [], "children_cpu_us": []}
    with tempfile.TemporaryDirectory(prefix="bench-moves-") as tmp:
        root = Path(tmp)
        batchd = BatchdMoves(root)
        try:
            for _ in range(repeats):
                run = batchd.run(root / "tree", files)
                samples["batchd_wall"].append(run["wall"])
                samples["batchd_exec"].append(run["exec"])
                cpu["daemon_cpu_us"].append(run["daemon_cpu_us"])
                cpu["children_cpu_us"].append(run["children_cpu_us"])
                samples["rename"].append(rename_loop(root / "tree", files, durable=False))
                samples["rename_fsync"].append(rename_loop(root / "tree", files, durable=True))
                samples["parallel"].append(
                    parallel_mv(root / "tree", files, many_per_mv=False, moved=parallel_files)
                )
                samples["parallel_x"].append(
                    parallel_mv(root / "tree", files, many_per_mv=True, moved=files)
                )
        finally:
            batchd.close()

    counts = {name: files for name in samples} | {"parallel": parallel_files}
    rates = {name: counts[name] / statistics.median(values) for name, values in samples.items()}
    results: dict[str, float] = {"files": files, "parallel_files": parallel_files}
    results["repeats"] = repeats
    results.update({f"{name}_per_s": rate for name, rate in rates.items()})
    results.update({name: statistics.median(values) for name, values in cpu.items()})
    results["ratio_vs_rename"] = rates["batchd_wall"] / rates["rename"]
    results["ratio_exec_vs_rename"] = rates["batchd_exec"] / rates["rename"]
    results["ratio_vs_rename_fsync"] = rates["batchd_wall"] / rates["rename_fsync"]
    results["ratio_vs_parallel"] = rates["batchd_wall"] / rates["parallel"]
    results["ratio_vs_parallel_x"] = rates["batchd_wall"] / rates["parallel_x"]

    print(f"moves: {files} files, median of {repeats}, cpus={os.cpu_count()}")
    print(f"{'':34}{'items':>7}{'items/s':>10}{'median s':>10}{'batchd/this':>13}")
    labels = {
        "batchd_wall": "batchd submit->completed",
        "batchd_exec": "batchd accepted->completed",
        "rename": "os.rename loop",
        "rename_fsync": "os.rename + 2 dir fsyncs (ref)",
        "parallel": "parallel -j2 mv {} DEST/",
        "parallel_x": "parallel -j2 -X mv {} DEST/",
    }
    for name, label in labels.items():
        ratio = rates["batchd_wall"] / rates[name]
        seconds = statistics.median(samples[name])
        print(f"{label:34}{counts[name]:7}{rates[name]:10.0f}{seconds:10.3f}{ratio:13.3f}")
    print(
        f"goal batchd/rename >= {GOAL_VS_RENAME}: {results['ratio_vs_rename']:.3f} "
        f"({'met' if results['ratio_vs_rename'] >= GOAL_VS_RENAME else 'NOT met'}); "
        f"goal batchd/parallel >= {GOAL_VS_PARALLEL:g}: {results['ratio_vs_parallel']:.1f} "
        f"({'met' if results['ratio_vs_parallel'] >= GOAL_VS_PARALLEL else 'NOT met'})"
    )
    print(
        f"CPU per item: daemon {results['daemon_cpu_us']:.0f} µs, "
        f"workers+validator {results['children_cpu_us']:.0f} µs"
    )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
