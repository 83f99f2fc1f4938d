"""``rollback.bin``: the durable round trip, and which forward items a rollback undid."""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from pathlib import Path

import msgpack
import pytest

from batchd.daemon.batches.batch import CODES
from batchd.daemon.ops.step import Fingerprint
from batchd.daemon.rollback.ledger import LEDGER, Ledger, read_ledger, undone_by, write_ledger
from batchd.protocol.batch_messages import ItemState

DONE = CODES[ItemState.COMPLETED]
FAILED = CODES[ItemState.FAILED]
PENDING = CODES[ItemState.PENDING]
RUNNING = CODES[ItemState.RUNNING]
FP = Fingerprint(2049, 77, 12, 1_700_000_000_123_456_789, 0o100640)


def _ledger(origins: Sequence[tuple[int, int]], noops: Sequence[tuple[int, int]] = ()) -> Ledger:
    flat, flat_noops = array("q"), array("q")
    for batch, index in origins:
        flat.extend((batch, index))
    for batch, index in noops:
        flat_noops.extend((batch, index))
    return Ledger((9,), False, flat, (None,) * len(origins), flat_noops)


def test_write_then_read_round_trips(tmp_path: Path) -> None:
    written = write_ledger(
        tmp_path, [9, 4], [(9, 0), (9, 0), (4, 3)], [FP, None, FP], [(4, 1)], force=True
    )
    assert (tmp_path / LEDGER).is_file()
    assert [p.name for p in tmp_path.iterdir()] == [LEDGER]  # the temp file is gone
    read = read_ledger(tmp_path)
    assert read == written
    assert read is not None
    assert read.of == (9, 4) and read.force is True
    assert [read.origin(i) for i in range(3)] == [(9, 0), (9, 0), (4, 3)]
    assert read.expected == (FP, None, FP)
    assert list(read.noops) == [4, 1]


def test_big_values_survive(tmp_path: Path) -> None:
    big = Fingerprint(2**63 - 1, 2**64 - 1, 2**40, -5, 0o40755)
    write_ledger(tmp_path, [2**40], [(2**40, 2**31)], [big], force=False)
    read = read_ledger(tmp_path)
    assert read is not None and read.expected == (big,) and read.origin(0) == (2**40, 2**31)


def test_a_forward_batch_has_no_ledger(tmp_path: Path) -> None:
    assert read_ledger(tmp_path) is None


def test_a_newer_format_is_refused(tmp_path: Path) -> None:
    (tmp_path / LEDGER).write_bytes(msgpack.packb({"format": 99}))
    with pytest.raises(ValueError, match="format 99"):
        read_ledger(tmp_path)


def test_a_ledger_without_noops_reads_as_none(tmp_path: Path) -> None:
    body = {"format": 1, "of": [3], "force": False, "origins": [3, 0], "expected": [None]}
    (tmp_path / LEDGER).write_bytes(msgpack.packb(body))
    read = read_ledger(tmp_path)
    assert read is not None and list(read.noops) == [] and read.origin(0) == (3, 0)


def _undone(ledger: Ledger, states: list[int], own: list[int] | None, target: int) -> list[int]:
    into = bytearray(4)
    undone_by(ledger, bytearray(states), None if own is None else bytearray(own), target, into)
    return list(into)


def test_an_item_is_undone_only_when_all_its_steps_completed() -> None:
    ledger = _ledger([(9, 0), (9, 0), (9, 1), (9, 2)])
    assert _undone(ledger, [DONE, FAILED, DONE, DONE], None, 9) == [0, 1, 1, 0]
    assert _undone(ledger, [DONE, DONE, DONE, PENDING], None, 9) == [1, 1, 0, 0]
    assert _undone(ledger, [FAILED, DONE, RUNNING, DONE], None, 9) == [0, 0, 1, 0]


def test_steps_undone_by_a_later_rollback_do_not_count() -> None:
    ledger = _ledger([(9, 0), (9, 0), (9, 1), (9, 2)])
    assert _undone(ledger, [DONE] * 4, [0, 1, 0, 0], 9) == [0, 1, 1, 0]
    assert _undone(ledger, [DONE] * 4, [0, 0, 0, 1], 9) == [1, 1, 0, 0]


def test_only_the_target_batch_is_marked() -> None:
    ledger = _ledger([(9, 0), (4, 0), (4, 3)], noops=[(9, 2), (4, 1)])
    assert _undone(ledger, [DONE] * 3, None, 4) == [1, 1, 0, 1]
    assert _undone(ledger, [DONE] * 3, None, 9) == [1, 0, 1, 0]
    assert _undone(ledger, [DONE] * 3, None, 7) == [0, 0, 0, 0]


def test_noops_count_as_undone() -> None:
    ledger = _ledger([(9, 0)], noops=[(9, 3)])
    assert _undone(ledger, [DONE], None, 9) == [1, 0, 0, 1]


def test_marks_accumulate_into_what_is_already_there() -> None:
    into = bytearray([0, 1, 0, 0])
    undone_by(_ledger([(9, 2)]), bytearray([DONE]), None, 9, into)
    assert list(into) == [0, 1, 1, 0]


def test_noops_do_not_count_once_the_rollback_itself_was_undone() -> None:
    ledger = _ledger([(9, 0)], noops=[(9, 3)])
    assert _undone(ledger, [DONE], [1], 9) == [0, 0, 0, 0]


def test_noops_do_not_count_when_nothing_was_undone() -> None:
    ledger = _ledger([(9, 0)], noops=[(9, 3)])
    assert _undone(ledger, [FAILED], None, 9) == [0, 0, 0, 0]
