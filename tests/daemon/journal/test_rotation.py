"""Opening after a checkpoint's LSN, rotating, and deleting the segments a checkpoint covers."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pytest

from batchd.daemon.journal import Journal, JournalCorrupt
from batchd.daemon.journal.records import DaemonStarted, DaemonStopped, JournalRecord
from batchd.daemon.journal.recovery import DaemonHistory, recover
from batchd.daemon.journal.segment import list_segments


def _lsns(records: Iterable[JournalRecord]) -> list[int]:
    """The pids of DaemonStarted records (tests use the pid as the record's LSN)."""
    return [r.pid for r in records if isinstance(r, DaemonStarted)]


def _write(directory: Path, first: int, last: int, *, rotate_every: int = 0) -> None:
    """Append records whose pid equals their LSN (the journal must be at LSN first - 1)."""
    journal, _ = Journal.open(directory, list)
    for lsn in range(first, last + 1):
        assert journal.append(DaemonStarted(pid=lsn, time=0.0, version="t")) == lsn
        if rotate_every and lsn % rotate_every == 0:
            journal.rotate()
    journal.close()


def test_open_after_an_lsn_streams_only_later_records(tmp_path: Path) -> None:
    _write(tmp_path, 1, 100, rotate_every=10)
    journal, seen = Journal.open(tmp_path, _lsns, after_lsn=35)
    assert seen == list(range(36, 101))
    assert journal.durable_lsn == 100
    journal.close()


def test_whole_covered_segments_are_not_read_past_their_header(tmp_path: Path) -> None:
    _write(tmp_path, 1, 30, rotate_every=10)
    segments = list_segments(tmp_path)
    # Damage the body of the first segment: only a full scan would notice.
    first = segments[0][1]
    data = bytearray(first.read_bytes())
    data[-3] ^= 0xFF
    first.write_bytes(bytes(data))
    journal, seen = Journal.open(tmp_path, _lsns, after_lsn=10)
    assert seen == list(range(11, 31))
    journal.close()
    with pytest.raises(JournalCorrupt):
        Journal.open(tmp_path, _lsns)


def test_the_lsn_continues_after_an_open_past_everything(tmp_path: Path) -> None:
    _write(tmp_path, 1, 20, rotate_every=10)
    journal, seen = Journal.open(tmp_path, _lsns, after_lsn=20)
    assert seen == []
    assert journal.append(DaemonStopped(time=0.0, clean=True)) == 21
    journal.close()


def test_a_gap_between_checkpoint_and_oldest_segment_is_corrupt(tmp_path: Path) -> None:
    _write(tmp_path, 1, 30, rotate_every=10)
    journal, _ = Journal.open(tmp_path, list)
    journal.drop_segments_through(20)
    journal.close()
    with pytest.raises(JournalCorrupt, match="records from LSN 11 on are needed"):
        Journal.open(tmp_path, _lsns, after_lsn=10)
    with pytest.raises(JournalCorrupt):
        Journal.open(tmp_path, _lsns)
    journal, seen = Journal.open(tmp_path, _lsns, after_lsn=20)
    assert seen == list(range(21, 31))
    journal.close()


def test_a_checkpoint_beyond_the_journal_end_is_corrupt(tmp_path: Path) -> None:
    _write(tmp_path, 1, 10)
    with pytest.raises(JournalCorrupt, match="covers records up to LSN 50"):
        Journal.open(tmp_path, _lsns, after_lsn=50)


def test_no_segment_at_all_continues_after_the_checkpoint(tmp_path: Path) -> None:
    journal, seen = Journal.open(tmp_path / "j", _lsns, after_lsn=50)
    assert seen == []
    assert journal.append(DaemonStopped(time=0.0, clean=True)) == 51
    journal.close()


def test_rotate_starts_a_segment_only_when_the_current_one_holds_records(tmp_path: Path) -> None:
    journal, _ = Journal.open(tmp_path, list)
    assert journal.rotate() == 0
    assert len(list_segments(tmp_path)) == 1
    journal.append(DaemonStarted(pid=1, time=0.0, version="t"))
    journal.append(DaemonStarted(pid=2, time=0.0, version="t"))
    assert journal.rotate() == 2  # commits what was queued first
    assert len(list_segments(tmp_path)) == 2
    assert journal.counters().segments == 2
    journal.close()
    _, seen = Journal.open(tmp_path, _lsns)
    assert seen == [1, 2]


def test_drop_deletes_only_fully_covered_segments_and_never_the_current(tmp_path: Path) -> None:
    journal, _ = Journal.open(tmp_path, list)
    for lsn in range(1, 31):
        journal.append(DaemonStarted(pid=lsn, time=0.0, version="t"))
        if lsn % 10 == 0:
            journal.rotate()
    # Segments: 1..10, 11..20, 21..30, and the current (empty) one.
    assert journal.drop_segments_through(15) == 1
    assert [number for number, _ in list_segments(tmp_path)] == [2, 3, 4]
    assert journal.drop_segments_through(15) == 0
    before = journal.counters()
    assert journal.drop_segments_through(10**9) == 2
    assert [number for number, _ in list_segments(tmp_path)] == [4]
    after = journal.counters()
    assert after.segments == 1 and before.segments == 3
    assert (before.records, after.records) == (20, 0)
    assert after.bytes < before.bytes
    journal.append(DaemonStarted(pid=31, time=0.0, version="t"))
    journal.close()
    journal, seen = Journal.open(tmp_path, _lsns, after_lsn=30)
    assert seen == [31]
    journal.close()


def test_fold_sees_appends_in_order_through_on_append(tmp_path: Path) -> None:
    appended: list[JournalRecord] = []
    journal, _ = Journal.open(tmp_path, list, on_append=appended.append)
    records = [DaemonStarted(pid=i, time=0.0, version="t") for i in range(5)]
    for record in records:
        journal.append(record)
    with journal.holding_appends():
        assert journal.rotate() == 5
    assert appended == records
    journal.close()


def test_recover_continues_a_seeded_history() -> None:
    start = DaemonStarted(pid=1, time=1.0, version="t")
    seed = DaemonHistory(starts=3, last_start=start, last_stop_clean=True)
    assert recover([], seed) == seed
    later = DaemonStarted(pid=2, time=2.0, version="t")
    assert recover([later], seed) == DaemonHistory(4, later, False)
    assert recover([DaemonStopped(3.0, True)], DaemonHistory(4, later, False)).last_stop_clean
