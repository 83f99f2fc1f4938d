"""``ResultsLog.post_states``: what rollback plans from (the last row of an item wins)."""

from __future__ import annotations

from pathlib import Path

import msgpack

from batchd.daemon.batches.results import ItemResult, ResultsLog
from batchd.daemon.ops.step import Fingerprint
from batchd.protocol.batch_messages import ItemState

FP1 = Fingerprint(1, 10, 5, 100, 0o100644)
FP2 = Fingerprint(1, 11, 6, 200, 0o100600)


def _row(index: int, state: ItemState, post: Fingerprint | None = FP1, digest: bytes = b"d",
         result: str = "") -> ItemResult:  # fmt: skip
    return ItemResult(index, state, 1, "", result, "", post, digest)


def _log(path: Path, *rows: ItemResult) -> ResultsLog:
    log = ResultsLog(path)
    for row in rows:
        log.append(row)
    return log


def test_the_last_completed_row_wins(tmp_path: Path) -> None:
    log = _log(
        tmp_path / "results.bin",
        _row(0, ItemState.COMPLETED, FP1, b"a", "first"),
        _row(1, ItemState.COMPLETED, None, b"", "exists"),
        _row(0, ItemState.COMPLETED, FP2, b"b", "second"),
    )
    assert log.post_states() == {0: (FP2, b"b", "second"), 1: (None, b"", "exists")}
    log.close()


def test_a_failed_row_drops_an_earlier_completed_one(tmp_path: Path) -> None:
    log = _log(
        tmp_path / "results.bin",
        _row(0, ItemState.COMPLETED),
        _row(1, ItemState.COMPLETED),
        _row(0, ItemState.FAILED, None, b""),
        _row(2, ItemState.FAILED, None, b""),
    )
    assert set(log.post_states()) == {1}
    log.append(_row(0, ItemState.COMPLETED, FP2, b"again"))  # retried and completed
    assert log.post_states()[0] == (FP2, b"again", "")
    log.close()


def test_rows_still_buffered_are_read(tmp_path: Path) -> None:
    log = _log(tmp_path / "results.bin", _row(4, ItemState.COMPLETED))
    assert (tmp_path / "results.bin").stat().st_size == 0  # buffered so far
    assert set(log.post_states()) == {4}
    log.close()


def test_the_rows_survive_reopening(tmp_path: Path) -> None:
    log = _log(tmp_path / "results.bin", _row(0, ItemState.COMPLETED, FP2, b"x", "r"))
    log.sync()
    log.close()
    assert ResultsLog(tmp_path / "results.bin").post_states() == {0: (FP2, b"x", "r")}


def test_six_field_legacy_rows_still_read(tmp_path: Path) -> None:
    path = tmp_path / "results.bin"
    pack = msgpack.Packer(use_bin_type=True).pack
    path.write_bytes(
        pack([0, "completed", 1, "", "abc123", ""])
        + pack([1, "failed", 2, "boom", "", "stderr"])
        + pack([2, "completed", 1, "", "", ""])
    )
    log = _log(path, _row(2, ItemState.COMPLETED, FP1, b"new"))
    assert log.post_states() == {0: (None, b"", "abc123"), 2: (FP1, b"new", "")}
    found = log.lookup([0, 1])
    assert found[0].post is None and found[0].digest == b"" and found[0].result == "abc123"
    assert found[1].state is ItemState.FAILED and found[1].diagnostics == "stderr"
    log.close()


def test_an_empty_log_has_no_post_states(tmp_path: Path) -> None:
    log = ResultsLog(tmp_path / "results.bin")
    assert log.post_states() == {}
    log.close()
