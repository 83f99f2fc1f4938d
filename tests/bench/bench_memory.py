"""The daemon's resident memory while a 1,000,000-item batch is uploaded, validated and run.

Run: ``.venv/bin/python tests/bench/bench_memory.py [--quick] [--items N] [--run-seconds S]``.
Prints a table, then as its last line one JSON object with the results.

The plan is ``N`` ``checksum`` items (default algorithm) over 16 tiny files, round robin:
read-only items of existing files validate fast, do not depend on each other (one level) and
leave nothing to clean up. A thread samples the RSS of the daemon process only (psutil; not
its workers nor its validator, whose peaks are reported apart) every 0.2 s: while idle before
the upload (the baseline, in the same run), during the upload, during validation and for
``--run-seconds`` (30; quick: 2) of running, after which the batch is cancelled (or it ends
on its own). Reported: peak and median RSS per phase and overall, validation time (end of
upload to acceptance), upload time and the items/s while running. Quick: 20,000 items.
Goal: peak daemon RSS <= 64 MiB.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "helpers"))

from running_daemon import RunningDaemon

from batchd.protocol.batch_messages import (
    TERMINAL_STATES,
    BatchProgress,
    CancelRequest,
    SubmitBeginReply,
    SubmitBeginRequest,
    SubmitChunkReply,
    SubmitChunkRequest,
    SubmitEndRequest,
    UploadState,
    UploadStatusReply,
    UploadStatusRequest,
)

FILES = 16
SAMPLE_EVERY = 0.2
IDLE_SECONDS = 1.0
GOAL_MIB = 64.0
MIB = 1 << 20
PHASES = ("idle", "upload", "validation", "running")


class RssSampler(threading.Thread):
    """Samples the daemon's RSS (and its children's largest) every SAMPLE_EVERY seconds,
    tagging each sample with the phase the main thread says it is in."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.process = psutil.Process(pid)
        self.phase = "idle"
        self.samples: list[tuple[str, int]] = []
        self.child_peak: dict[str, int] = {}
        self._halt = threading.Event()

    def run(self) -> None:
        """Sample until stopped."""
        while not self._halt.is_set():
            phase = self.phase
            try:
                self.samples.append((phase, self.process.memory_info().rss))
                children = self.process.children()
            except psutil.NoSuchProcess:
                return
            for child in children:
                try:
                    rss = child.memory_info().rss
                except psutil.NoSuchProcess:
                    continue
                self.child_peak[phase] = max(self.child_peak.get(phase, 0), rss)
            self._halt.wait(SAMPLE_EVERY)

    def enter(self, phase: str) -> None:
        """Start ``phase`` with a sample taken now (so even a short phase has one)."""
        self.phase = phase
        self.samples.append((phase, self.process.memory_info().rss))

    def stop(self) -> None:
        """End sampling and wait for the thread."""
        self._halt.set()
        self.join()

    def rss(self, phase: str | None = None) -> list[int]:
        """The samples of ``phase`` (all when None)."""
        return [rss for tag, rss in self.samples if phase is None or tag == phase]


def make_plan(root: Path, items: int) -> bytes:
    """``items`` checksum lines over FILES tiny files in ``root``."""
    names = [f"tiny-{n:02d}.txt" for n in range(FILES)]
    for n, name in enumerate(names):
        (root / name).write_text(f"file {n}\n")
    lines = [json.dumps({"op": "checksum", "path": name}).encode() + b"\n" for name in names]
    return b"".join(lines[i % FILES] for i in range(items))


def upload(daemon: RunningDaemon, plan: bytes, cwd: Path) -> str:
    """Stream ``plan`` through submit_begin/chunk/end; the upload id."""
    begin = daemon.request(
        SubmitBeginRequest(name="memory", cwd=os.fsencode(cwd)), SubmitBeginReply
    )
    for seq, start in enumerate(range(0, len(plan), begin.chunk_bytes)):
        data = plan[start : start + begin.chunk_bytes]
        daemon.request(SubmitChunkRequest(begin.upload, seq, data), SubmitChunkReply, timeout=30)
    daemon.request(SubmitEndRequest(begin.upload), UploadStatusReply, timeout=30)
    return begin.upload


def wait_accepted(daemon: RunningDaemon, upload_id: str, timeout: float = 600.0) -> int:
    """Poll upload_status (every 10 ms) until validation ends; the batch id."""
    deadline = time.monotonic() + timeout
    while True:
        status = daemon.request(UploadStatusRequest(upload_id), UploadStatusReply, timeout=30)
        if status.state is not UploadState.VALIDATING:
            break
        assert time.monotonic() < deadline, "plan validation did not end"
        time.sleep(0.01)
    assert status.state is UploadState.ACCEPTED and status.batch is not None, status.problems[:5]
    return status.batch


def run_for(daemon: RunningDaemon, batch: int, seconds: float) -> tuple[BatchProgress, float]:
    """Let the batch run ``seconds`` (or until it ends); its progress then and the time."""
    started = time.monotonic()
    while True:
        progress = daemon.progress(batch)
        elapsed = time.monotonic() - started
        if progress.state in TERMINAL_STATES or elapsed >= seconds:
            return progress, elapsed
        time.sleep(min(0.25, max(0.0, seconds - elapsed)))


def measure(root: Path, items: int, run_seconds: float) -> tuple[dict[str, float], RssSampler]:
    """Upload, validate and run the plan under the sampler; the timings and the sampler."""
    plan = make_plan(root, items)
    daemon = RunningDaemon(root, args=("--log-level", "info"), name="memory")
    sampler: RssSampler | None = None
    try:
        daemon.start()
        assert daemon.process is not None
        sampler = RssSampler(daemon.process.pid)
        sampler.start()
        time.sleep(IDLE_SECONDS)  # the idle baseline
        sampler.enter("upload")
        upload_started = time.monotonic()
        upload_id = upload(daemon, plan, root)
        sampler.enter("validation")
        validation_started = time.monotonic()
        batch = wait_accepted(daemon, upload_id)
        sampler.enter("running")
        accepted = time.monotonic()
        cpu_before = sampler.process.cpu_times()
        progress, ran = run_for(daemon, batch, run_seconds)
        cpu_after = sampler.process.cpu_times()
        if progress.state in TERMINAL_STATES:
            ran = progress.elapsed  # ended early: the daemon's own accept-to-end time
        else:
            daemon.request(CancelRequest(batch), BatchProgress)
    finally:
        try:
            if sampler is not None:
                sampler.stop()
        finally:
            daemon.shutdown()
    assert sampler is not None
    done = progress.completed + progress.failed
    cpu = (cpu_after.user + cpu_after.system) - (cpu_before.user + cpu_before.system)
    return {
        "items": items,
        "plan_bytes": len(plan),
        "upload_seconds": validation_started - upload_started,
        "validation_seconds": accepted - validation_started,
        "run_seconds": ran,
        "items_done": done,
        "items_per_s": done / ran,
        "daemon_cpu_us_per_item": cpu / max(1, done) * 1e6,
    }, sampler


def main() -> None:
    """Measure and print a table and a JSON line."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--items", type=int)
    parser.add_argument("--run-seconds", type=float)
    args = parser.parse_args()
    items = args.items or (20_000 if args.quick else 1_000_000)
    run_seconds = args.run_seconds or (2.0 if args.quick else 30.0)
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        results, sampler = measure(Path(tmp), items, run_seconds)

    every = sampler.rss()
    results["samples"] = len(every)
    results["peak_rss_mib"] = max(every) / MIB
    results["median_rss_mib"] = statistics.median(every) / MIB
    for phase in PHASES:
        samples = sampler.rss(phase)
        results[f"{phase}_peak_mib"] = max(samples) / MIB
        results[f"{phase}_median_mib"] = statistics.median(samples) / MIB
    results["validator_peak_mib"] = sampler.child_peak.get("validation", 0) / MIB
    results["peak_over_idle"] = results["peak_rss_mib"] / results["idle_median_mib"]
    print(
        f"memory: {items} checksum items ({results['plan_bytes'] / MIB:.1f} MiB plan), RSS of "
        f"the daemon every {SAMPLE_EVERY} s, cpus={os.cpu_count()}"
    )
    print(f"{'phase':12}{'seconds':>10}{'samples':>9}{'median MiB':>12}{'peak MiB':>10}")
    seconds = {
        "idle": IDLE_SECONDS,
        "upload": results["upload_seconds"],
        "validation": results["validation_seconds"],
        "running": results["run_seconds"],
    }
    for phase in PHASES:
        print(
            f"{phase:12}{seconds[phase]:10.2f}{len(sampler.rss(phase)):9}"
            f"{results[f'{phase}_median_mib']:12.1f}{results[f'{phase}_peak_mib']:10.1f}"
        )
    verdict = "met" if results["peak_rss_mib"] <= GOAL_MIB else "NOT met"
    print(
        f"overall: median {results['median_rss_mib']:.1f} MiB, peak "
        f"{results['peak_rss_mib']:.1f} MiB (goal <= {GOAL_MIB:g} MiB: {verdict}); "
        f"validator child peak {results['validator_peak_mib']:.1f} MiB"
    )
    print(
        f"running: {results['items_done']} items in {results['run_seconds']:.1f} s = "
        f"{results['items_per_s']:.0f} items/s; daemon CPU "
        f"{results['daemon_cpu_us_per_item']:.1f} µs per item"
    )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
