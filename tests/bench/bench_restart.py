"""Restart time: from `batchd` start to its first `ping` answer, with and without a checkpoint.

Run: `.venv/bin/python tests/bench/bench_restart.py [--quick] [--dir DIR]`. The state directory
is built with the real APIs: a plan store of N trivial checksum steps
(``PlanStoreWriter``), and a journal (``Journal``) holding BatchCreated (total N), an
ItemIntent and an ItemDone for every item, BatchEnded and a clean stop, in commit groups of
1,000 records. Then:

- (a) no checkpoint: the daemon replays all 2N + a few records;
- (b) the same journal with a checkpoint covering it, written by the real ``Checkpointer``
  (it rotates first, so every segment is covered and skipped after reading its header);
- (c) an empty state directory: the fixed cost of starting the daemon at all.

Each run starts from a fresh copy of the state directory (a started daemon writes a
checkpoint of its own). Also measured in-process: recovery alone (checkpoint load + journal
open) and the cost the live fold adds to every append. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import zmq

from batchd.daemon.checkpoint import Checkpointer, StateFold, checkpoint_files, load_checkpoint
from batchd.daemon.journal import Journal
from batchd.daemon.journal.records import (
    BatchCreated,
    BatchEnded,
    DaemonStarted,
    DaemonStopped,
    ItemDone,
    ItemIntent,
    JournalRecord,
)
from batchd.daemon.journal.segment import list_segments
from batchd.daemon.ops.step import OpKind, Step
from batchd.daemon.plan.store import PlanStoreWriter
from batchd.protocol import codec
from batchd.protocol.messages import PingReply, PingRequest

BATCHD = str(Path(sys.executable).with_name("batchd"))
FULL_ITEMS = 1_000_000
QUICK_ITEMS = 20_000
GROUP = 1_000
COMPLETED = 3  # ItemState code of "completed" (CODES in daemon/batches/batch.py)
DIGEST = "sha256:" + "ab" * 32


def build_state(state: Path, items: int) -> int:
    """A state directory whose journal holds one finished batch of ``items`` items."""
    steps = [Step(i, i + 1, OpKind.CHECKSUM, b"/nonexistent/f%d" % i) for i in range(items)]
    PlanStoreWriter(state / "batches" / "1", batch=1).write(steps, [0] * items)
    del steps
    journal, _ = Journal.open(state / "journal", list)
    journal.append(DaemonStarted(pid=1, time=time.time(), version="bench"))
    journal.append(BatchCreated(1, "bench", items, 0, time.time()))
    for start in range(0, items, GROUP // 2):
        for index in range(start, min(items, start + GROUP // 2)):
            fingerprint = (2049, 1000 + index, 10, 1_700_000_000, 0o100644)
            journal.append(ItemIntent(1, index, 1, *fingerprint))
            journal.append(ItemDone(1, index, COMPLETED, 1, "", DIGEST, *fingerprint, b""))
        journal.commit()
    journal.append(BatchEnded(1, "completed", time.time()))
    journal.append(DaemonStopped(time.time(), clean=True))
    lsn = journal.commit()
    journal.close()
    return lsn


def add_checkpoint(state: Path) -> int:
    """Replay the journal into a live fold and write a checkpoint with the real writer."""
    fold = StateFold()
    journal, _ = Journal.open(state / "journal", fold.replay, on_append=fold.apply)
    lsn = Checkpointer(journal, checkpoint_files(state), fold, last_lsn=0).write()
    journal.close()
    return lsn


def time_to_ready(template: Path, work: Path) -> float:
    """Copy ``template`` to a fresh state dir, start batchd, return seconds until ping answers."""
    state = work / "state"
    runtime = work / "run"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    if template.exists():
        shutil.copytree(template, state)
    command = [BATCHD, "--state-dir", str(state), "--runtime-dir", str(runtime)]
    context = zmq.Context.instance()
    sock = context.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(f"ipc://{runtime}/control.sock")  # zmq reconnects until the daemon binds
    body = codec.encode_request(1, PingRequest())
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        sock.send_multipart([b"", body])
        while not sock.poll(5):
            if process.poll() is not None:
                raise RuntimeError(f"batchd exited with {process.returncode} before ready")
            if time.perf_counter() - started > 120:
                raise RuntimeError("batchd did not answer ping within 120 s")
        elapsed = time.perf_counter() - started
        reply = sock.recv_multipart()
        codec.parse_reply(codec.decode_reply_envelope(reply[1]), PingReply)
    finally:
        sock.close()
        process.send_signal(signal.SIGTERM)
        process.wait(60)
    return elapsed


def time_recovery(state: Path) -> float:
    """In-process: load the newest checkpoint and open the journal after it (a fresh copy)."""
    copy = state.with_name(state.name + "-recovery")
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(state, copy)
    started = time.perf_counter()
    loaded = load_checkpoint(checkpoint_files(copy))
    fold = StateFold(loaded)
    after = 0 if loaded is None else loaded.lsn
    journal, _ = Journal.open(copy / "journal", fold.replay, after_lsn=after)
    elapsed = time.perf_counter() - started
    journal.close()
    shutil.rmtree(copy)
    return elapsed


def append_cost(root: Path, items: int) -> dict[str, float]:
    """Microseconds per ``append`` (encode + queue; the commits are not timed, their fsyncs
    would drown the difference) without and with the live fold."""
    records: list[JournalRecord] = [BatchCreated(1, "b", items, 0, 0.0)]
    for index in range(items):
        records.append(ItemIntent(1, index, 1, 2049, 1000 + index, 10, 1, 0o100644))
        records.append(ItemDone(1, index, COMPLETED, 1, "", "r", 2049, 1000 + index, 10, 1, 0, b""))
    result: dict[str, float] = {}
    for name, with_fold in (("plain_us", False), ("with_fold_us", True)):
        samples = []
        for repeat in range(3):
            directory = root / f"append-{name}-{repeat}"
            fold = StateFold()
            journal, _ = Journal.open(
                directory, fold.replay, on_append=fold.apply if with_fold else None
            )
            append = journal.append
            elapsed = 0.0
            for start in range(0, len(records), GROUP * 10):
                began = time.perf_counter()
                for record in records[start : start + GROUP * 10]:
                    append(record)
                elapsed += time.perf_counter() - began
                journal.commit()
            samples.append(elapsed)
            journal.close()
            shutil.rmtree(directory)
        result[name] = statistics.median(samples) / len(records) * 1e6
    result["overhead_us"] = result["with_fold_us"] - result["plain_us"]
    return result


def main() -> None:
    """Build the state directories, time the starts, print a table and a JSON line."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_ITEMS} items, 1 run each")
    parser.add_argument("--dir", type=Path, default=None, help="where to build (a temp dir)")
    args = parser.parse_args()
    items = QUICK_ITEMS if args.quick else FULL_ITEMS
    runs = 1 if args.quick else 3
    root = Path(tempfile.mkdtemp(prefix="bench-restart-", dir=args.dir))
    try:
        full = root / "full"
        started = time.perf_counter()
        records = build_state(full, items)
        build_s = time.perf_counter() - started
        checkpointed = root / "checkpointed"
        shutil.copytree(full, checkpointed)
        checkpoint_lsn = add_checkpoint(checkpointed)
        segments = list_segments(full / "journal")
        checkpoints = checkpoint_files(checkpointed).list()
        sizes = {
            "journal_bytes": sum(path.stat().st_size for _, path in segments),
            "segments": len(segments),
            "checkpoint_bytes": sum(path.stat().st_size for _, path in checkpoints),
        }
        cases = {"a_full_replay": full, "b_checkpoint": checkpointed, "c_empty": root / "none"}
        ready = {
            name: statistics.median(time_to_ready(path, root / "work") for _ in range(runs))
            for name, path in cases.items()
        }
        recovery = {
            name: statistics.median(time_recovery(path) for _ in range(runs))
            for name, path in list(cases.items())[:2]
        }
        appends = append_cost(root, min(items, 200_000))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"state: {items:,} items, {records:,} journal records ({sizes['journal_bytes']:,} bytes, "
          f"{sizes['segments']} segments); checkpoint at LSN {checkpoint_lsn:,} is "
          f"{sizes['checkpoint_bytes']:,} bytes; built in {build_s:.1f} s")  # fmt: skip
    print(f"{'case':<28}{'start → ping (s)':>18}{'recovery only (s)':>20}")
    for name, seconds in ready.items():
        rec = recovery.get(name)
        print(f"{name:<28}{seconds:>18.3f}{'' if rec is None else f'{rec:.3f}':>20}")
    print(f"append: {appends['plain_us']:.2f} µs/record plain, {appends['with_fold_us']:.2f} "
          f"with the live fold (+{appends['overhead_us']:.2f} µs)")  # fmt: skip
    print(
        json.dumps(
            {
                "quick": args.quick,
                "items": items,
                "records": records,
                **sizes,
                "ready_s": ready,
                "recovery_s": recovery,
                "append": appends,
                "goal_b_s": 1.5,
                "goal_met": ready["b_checkpoint"] <= 1.5,
            }
        )
    )


if __name__ == "__main__":
    main()
