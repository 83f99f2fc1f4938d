"""Damage that is not a torn tail stops recovery loudly, naming the segment and offset."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from batchd.daemon.journal import Journal, JournalCorrupt, UnsupportedJournalFormat
from batchd.daemon.journal.format import HEADER_SIZE, encode_header
from batchd.daemon.journal.records import JournalRecord
from batchd.daemon.journal.segment import TORN_DIR, list_segments


def write_groups(
    directory: Path, syscalls: Any, helpers: Any, groups: list[int], limit: int = 1 << 20
) -> list[JournalRecord]:
    journal, _ = Journal.open(directory, list, syscalls=syscalls, segment_limit=limit)
    written: list[JournalRecord] = []
    for size in groups:
        records = helpers.make_records(size, start=len(written))
        for record in records:
            journal.append(record)
        journal.commit()
        written += records
    journal.close()
    return written


def damage(path: Path, offset: int, data: bytes = b"\xff") -> None:
    content = bytearray(path.read_bytes())
    content[offset : offset + len(data)] = data
    path.write_bytes(content)


def test_damage_before_a_later_commit_is_a_corrupt_middle(
    tmp_path: Path, no_sync: Any, helpers: Any
) -> None:
    directory = tmp_path / "journal"
    write_groups(directory, no_sync, helpers, [3, 2, 2])
    blocks = helpers.read_blocks(directory)
    victim = blocks[0]  # the first group; two later groups follow
    damage(victim.segment, victim.offset + 40)
    before = victim.segment.read_bytes()

    with pytest.raises(JournalCorrupt) as raised:
        Journal.open(directory, list, syscalls=no_sync)
    error = raised.value
    assert (error.segment, error.offset) == (victim.segment, victim.offset)
    assert str(victim.segment) in str(error) and f"byte offset {victim.offset}" in str(error)
    assert error.details == {"segment": str(victim.segment), "offset": victim.offset}
    # Nothing was repaired, removed or added.
    assert victim.segment.read_bytes() == before
    assert not (directory / TORN_DIR).exists()
    assert len(list_segments(directory)) == 1


def test_damage_in_a_segment_followed_by_another_segment_is_corrupt(
    tmp_path: Path, no_sync: Any, helpers: Any
) -> None:
    directory = tmp_path / "journal"
    write_groups(directory, no_sync, helpers, [2, 2, 2, 2], limit=150)
    blocks = helpers.read_blocks(directory)
    first_segment = [block for block in blocks if block.segment == blocks[0].segment]
    assert len(first_segment) < len(blocks)
    victim = first_segment[-1]  # the last block of a segment that has successors
    damage(victim.segment, victim.end - 1)
    with pytest.raises(JournalCorrupt) as raised:
        Journal.open(directory, list, syscalls=no_sync)
    assert (raised.value.segment, raised.value.offset) == (victim.segment, victim.offset)
    assert "later segments exist" in str(raised.value)


def test_a_damaged_last_group_is_a_torn_tail(tmp_path: Path, no_sync: Any, helpers: Any) -> None:
    directory = tmp_path / "journal"
    written = write_groups(directory, no_sync, helpers, [2, 5])
    blocks = helpers.read_blocks(directory)
    last = blocks[-1]
    damage(last.segment, last.offset + 40, bytes(10))
    journal, records = Journal.open(directory, list, syscalls=no_sync)
    journal.close()
    assert records == written[:2]
    (aside,) = (directory / TORN_DIR).iterdir()
    assert aside.stat().st_size == last.end - last.offset


def write_multiblock(directory: Path, syscalls: Any, helpers: Any, groups: list[int]) -> list[Any]:
    runs: list[list[list[JournalRecord]]] = [[]]
    written: list[JournalRecord] = []
    for size in groups:
        runs[0].append(helpers.make_records(size, start=len(written)))
        written += runs[0][-1]
    helpers.write_journal(
        directory, runs, block_target=40, segment_limit=1 << 20, syscalls=syscalls
    )
    return written


def test_a_hole_inside_the_last_unacknowledged_group_is_a_torn_tail(
    tmp_path: Path, no_sync: Any, helpers: Any
) -> None:
    # A crash during one group's write may persist its pages in any order: valid blocks of the
    # same group after a hole were never acknowledged, so they are part of the torn tail, and
    # so are the valid blocks before the hole: a group is all or nothing.
    directory = tmp_path / "journal"
    written = write_multiblock(directory, no_sync, helpers, [3, 8])
    blocks = helpers.read_blocks(directory)
    group = [block for block in blocks if block.group_lsn == 4]
    assert len(group) >= 3 and group[-1].last
    hole = group[1]
    damage(hole.segment, hole.offset + 5, bytes(10))
    journal, records = Journal.open(directory, list, syscalls=no_sync)
    journal.close()
    assert records == written[:3]
    (aside,) = (directory / TORN_DIR).iterdir()
    assert aside.stat().st_size == group[-1].end - group[0].offset
    assert helpers.read_blocks(directory)[-1].next_lsn == 4


def test_a_group_without_its_last_block_is_a_torn_tail(
    tmp_path: Path, no_sync: Any, helpers: Any
) -> None:
    directory = tmp_path / "journal"
    written = write_multiblock(directory, no_sync, helpers, [3, 8])
    blocks = helpers.read_blocks(directory)
    path = blocks[-1].segment
    path.write_bytes(path.read_bytes()[: blocks[-1].offset])
    journal, records = Journal.open(directory, list, syscalls=no_sync)
    journal.close()
    assert records == written[:3]


def test_a_hole_inside_a_group_followed_by_a_later_group_is_a_corrupt_middle(
    tmp_path: Path, no_sync: Any, helpers: Any
) -> None:
    directory = tmp_path / "journal"
    write_multiblock(directory, no_sync, helpers, [3, 8, 1])
    blocks = helpers.read_blocks(directory)
    group = [block for block in blocks if block.group_lsn == 4]
    hole = group[1]
    damage(hole.segment, hole.offset + 5, bytes(10))
    before = hole.segment.read_bytes()
    with pytest.raises(JournalCorrupt) as raised:
        Journal.open(directory, list, syscalls=no_sync)
    # The error names the damaged block itself, not the start of its group.
    assert (raised.value.segment, raised.value.offset) == (hole.segment, hole.offset)
    assert "LSN 12" in str(raised.value) and "commit group from LSN 4" in str(raised.value)
    assert hole.segment.read_bytes() == before
    assert not (directory / TORN_DIR).exists()


def test_a_missing_segment_is_corrupt(tmp_path: Path, no_sync: Any, helpers: Any) -> None:
    directory = tmp_path / "journal"
    write_groups(directory, no_sync, helpers, [2, 2, 2, 2], limit=150)
    segments = list_segments(directory)
    assert len(segments) >= 3
    segments[1][1].unlink()
    with pytest.raises(JournalCorrupt, match="missing") as raised:
        Journal.open(directory, list, syscalls=no_sync)
    assert raised.value.segment == segments[2][1]


def test_an_lsn_gap_between_segments_is_corrupt(tmp_path: Path, no_sync: Any, helpers: Any) -> None:
    directory = tmp_path / "journal"
    write_groups(directory, no_sync, helpers, [2])
    last = list_segments(directory)[-1]
    (directory / f"seg-{last[0] + 1:016d}.journal").write_bytes(encode_header(last[0] + 1, 5, 99))
    with pytest.raises(JournalCorrupt, match="starts at LSN 99"):
        Journal.open(directory, list, syscalls=no_sync)


def test_a_bad_header_with_records_behind_it_is_corrupt(
    tmp_path: Path, no_sync: Any, helpers: Any
) -> None:
    directory = tmp_path / "journal"
    write_groups(directory, no_sync, helpers, [2])
    path = list_segments(directory)[0][1]
    damage(path, 20)
    with pytest.raises(JournalCorrupt, match="bad header") as raised:
        Journal.open(directory, list, syscalls=no_sync)
    assert (raised.value.segment, raised.value.offset) == (path, 0)


def test_a_newer_format_version_is_refused(tmp_path: Path, no_sync: Any, helpers: Any) -> None:
    directory = tmp_path / "journal"
    write_groups(directory, no_sync, helpers, [1])
    path = list_segments(directory)[0][1]
    damage(path, 0, encode_header(1, 7, 1, version=2))
    with pytest.raises(UnsupportedJournalFormat, match="version 2"):
        Journal.open(directory, list, syscalls=no_sync)
    assert path.stat().st_size > HEADER_SIZE
