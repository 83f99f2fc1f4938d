"""Benchmark of the journal: group-commit append throughput and replay speed.

Run: ``.venv/bin/python tests/bench/bench_journal.py [--quick]``. Prints a table, then as its
last line one JSON object with the results.

(a) Appends of ~100-byte records committed in groups of 1, 10, 100, 1000 through the journal,
    against a raw loop of one ``os.write`` + one ``os.fdatasync`` per group of the same
    payloads (records/s, median of 5).
(b) Replay of 1,000,000 ~100-byte records (commit groups of 10,000) through the journal
    reader (block checksums verified, payloads unpacked) against a plain ``msgpack.Unpacker``
    over one file of the same payloads (seconds, median of 3; goal: ratio <= 1.5), and replay
    through ``Journal.open`` decoded into record dataclasses (goal: <= 1.5 s for 1M records).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import msgpack

from batchd.daemon.journal import Journal
from batchd.daemon.journal.reader import JournalScan
from batchd.daemon.journal.records import DaemonStarted, JournalRecord, encode_record
from batchd.daemon.journal.syscalls import OsSyscalls

GROUP_SIZES = (1, 10, 100, 1000)
FULL_RECORDS = {1: 1_000, 10: 5_000, 100: 20_000, 1000: 100_000}
QUICK_RECORDS = {1: 20, 10: 100, 100: 500, 1000: 2_000}


def make_record(index: int) -> JournalRecord:
    """A record whose payload is about 100 bytes."""
    return DaemonStarted(pid=index, time=1_700_000_000.0 + index, version="v" * 83)


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def bench_journal_append(root: Path, group: int, count: int, records: list[JournalRecord]) -> float:
    directory = Path(tempfile.mkdtemp(dir=root))
    journal, _ = Journal.open(directory / "journal", list)

    def run() -> None:
        for start in range(0, count, group):
            for record in records[start : start + group]:
                journal.append(record)
            journal.commit()

    seconds = timed(run)
    journal.close()
    return seconds


def bench_raw_append(root: Path, group: int, count: int, payloads: list[bytes]) -> float:
    fd, name = tempfile.mkstemp(dir=root)
    try:

        def run() -> None:
            for start in range(0, count, group):
                os.write(fd, b"".join(payloads[start : start + group]))
                os.fdatasync(fd)

        return timed(run)
    finally:
        os.close(fd)
        os.unlink(name)


def append_table(root: Path, quick: bool, repeats: int) -> dict[str, dict[str, float]]:
    sizes = QUICK_RECORDS if quick else FULL_RECORDS
    results: dict[str, dict[str, float]] = {}
    for group in GROUP_SIZES:
        count = sizes[group]
        records = [make_record(i) for i in range(count)]
        payloads = [encode_record(record) for record in records]
        journal = statistics.median(
            bench_journal_append(root, group, count, records) for _ in range(repeats)
        )
        raw = statistics.median(
            bench_raw_append(root, group, count, payloads) for _ in range(repeats)
        )
        results[str(group)] = {
            "records": count,
            "payload_bytes": statistics.mean(map(len, payloads)),
            "journal_rps": count / journal,
            "raw_rps": count / raw,
            "ratio": (count / journal) / (count / raw),
        }
    return results


def write_replay_inputs(root: Path, count: int) -> tuple[Path, Path]:
    """A journal of ``count`` records and a plain file of the same payloads."""
    directory = root / "replay-journal"
    journal, _ = Journal.open(directory, list)
    plain = root / "replay-plain.msgpack"
    with plain.open("wb") as out:
        batch: list[bytes] = []
        for index in range(count):
            record = make_record(index)
            journal.append(record)
            batch.append(encode_record(record))
            if len(batch) == 10_000:
                journal.commit()
                out.write(b"".join(batch))
                batch.clear()
        journal.commit()
        out.write(b"".join(batch))
    journal.close()
    return directory, plain


def drain(items: Iterable[Any]) -> None:
    collections.deque(items, maxlen=0)


def replay_journal(directory: Path) -> None:
    drain(JournalScan(directory, OsSyscalls(), None))


def replay_plain(path: Path) -> None:
    with path.open("rb") as file:
        # Tuples, as the journal reader makes them: the same work, compared fairly.
        drain(msgpack.Unpacker(file, read_size=1 << 20, use_list=False))


def replay_records(directory: Path) -> None:
    journal, _ = Journal.open(directory, drain)
    journal.close()


def replay_table(root: Path, quick: bool, repeats: int) -> dict[str, float]:
    count = 50_000 if quick else 1_000_000
    directory, plain = write_replay_inputs(root, count)
    journal = statistics.median(timed(lambda: replay_journal(directory)) for _ in range(repeats))
    unpacker = statistics.median(timed(lambda: replay_plain(plain)) for _ in range(repeats))
    decoded = statistics.median(timed(lambda: replay_records(directory)) for _ in range(repeats))
    return {
        "records": count,
        "journal_bytes": sum(path.stat().st_size for path in directory.glob("seg-*")),
        "journal_s": journal,
        "unpacker_s": unpacker,
        "ratio": journal / unpacker,
        "decoded_records_s": decoded,
        "decoded_ratio": decoded / unpacker,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="small sizes: a few seconds")
    parser.add_argument("--dir", type=Path, default=None, help="where to write (default: tmp)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        root = Path(tmp)
        append = append_table(root, args.quick, repeats=5)
        replay = replay_table(root, args.quick, repeats=3)

    print(f"{'group':>6} {'records':>8} {'journal rec/s':>14} {'raw rec/s':>12} {'ratio':>6}")
    for group, row in append.items():
        print(
            f"{group:>6} {row['records']:>8.0f} {row['journal_rps']:>14,.0f} "
            f"{row['raw_rps']:>12,.0f} {row['ratio']:>6.2f}"
        )
    print(
        f"replay of {replay['records']:,.0f} records ({replay['journal_bytes'] / 1e6:.0f} MB): "
        f"journal reader {replay['journal_s']:.3f} s, "
        f"msgpack.Unpacker {replay['unpacker_s']:.3f} s, ratio {replay['ratio']:.2f} "
        f"(goal <= 1.5)"
    )
    print(
        f"replay decoded to records through Journal.open: {replay['decoded_records_s']:.3f} s "
        f"({replay['decoded_ratio']:.2f} x msgpack.Unpacker; goal <= 1.5 s for 1M records)"
    )
    print(json.dumps({"quick": args.quick, "append": append, "replay": replay}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
