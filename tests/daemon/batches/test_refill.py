"""Start-up refill of result rows from replayed DONE records."""

from __future__ import annotations

from pathlib import Path

from batchd.daemon.batches.batch import CODES
from batchd.daemon.batches.refill import ResultsRefill
from batchd.daemon.batches.results import ResultsLog
from batchd.daemon.journal.records import BatchCreated, DaemonStarted, ItemDone, JournalRecord
from batchd.daemon.ops.step import Fingerprint
from batchd.protocol.batch_messages import ItemState

DONE, FAILED = CODES[ItemState.COMPLETED], CODES[ItemState.FAILED]


def _done(
    batch: int, index: int, state: int = DONE, ino: int = 50, digest: bytes = b""
) -> ItemDone:
    return ItemDone(batch, index, state, 1, "" if state == DONE else "boom", f"r{index}",
                    8, ino, 11, 1_700_000_000_000_000_001, 0o100600, digest)  # fmt: skip


def _refill(batches: Path, records: list[JournalRecord]) -> tuple[list[JournalRecord], int]:
    refill = ResultsRefill(batches)
    passed = list(refill.observe(records))
    refill.close()
    return passed, refill.rows


def test_done_records_become_rows_post_states_reads(tmp_path: Path) -> None:
    (tmp_path / "3").mkdir()
    records: list[JournalRecord] = [
        DaemonStarted(1, 1.0, "v"),
        BatchCreated(3, "n", 4, 0, 1.0),
        _done(3, 0, digest=b"\x01" * 16),
        _done(3, 1, ino=0),  # nothing left at the target (a delete)
        _done(3, 2, state=FAILED),
    ]
    passed, rows = _refill(tmp_path, records)
    assert passed == records and rows == 3
    post = ResultsLog(tmp_path / "3" / "results.bin").post_states()
    assert post == {
        0: (Fingerprint(8, 50, 11, 1_700_000_000_000_000_001, 0o100600), b"\x01" * 16, "r0"),
        1: (None, b"", "r1"),
    }
    found = ResultsLog(tmp_path / "3" / "results.bin").lookup([2])
    assert found[2].state is ItemState.FAILED and found[2].error == "boom"


def test_batches_without_a_directory_are_ignored(tmp_path: Path) -> None:
    (tmp_path / "1").mkdir()
    passed, rows = _refill(tmp_path, [_done(7, 0), _done(1, 0), _done(7, 1)])
    assert len(passed) == 3 and rows == 1
    assert not (tmp_path / "7").exists()
    assert set(ResultsLog(tmp_path / "1" / "results.bin").post_states()) == {0}


def test_rows_already_there_are_harmless_duplicates(tmp_path: Path) -> None:
    (tmp_path / "2").mkdir()
    records: list[JournalRecord] = [_done(2, 0, digest=b"d"), _done(2, 1)]
    _refill(tmp_path, records)
    first = ResultsLog(tmp_path / "2" / "results.bin").post_states()
    _refill(tmp_path, records)
    _refill(tmp_path, records)
    assert ResultsLog(tmp_path / "2" / "results.bin").post_states() == first
    assert len(first) == 2


def test_a_refill_appends_after_the_rows_that_survived(tmp_path: Path) -> None:
    (tmp_path / "2").mkdir()
    _refill(tmp_path, [_done(2, 0, state=FAILED)])
    _refill(tmp_path, [_done(2, 0, ino=99)])  # a retry that completed, replayed after it
    ((index, (post, _, _)),) = ResultsLog(tmp_path / "2" / "results.bin").post_states().items()
    assert index == 0 and post is not None and post.ino == 99


def test_nothing_to_refill_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "2").mkdir()
    passed, rows = _refill(tmp_path, [DaemonStarted(1, 1.0, "v")])
    assert rows == 0 and len(passed) == 1
    assert not (tmp_path / "2" / "results.bin").exists()
