"""Recovery from damaged journals: cut at every byte, torn tails, every single-bit flip.

Each runs on a journal written by ``Journal`` (one block per commit group) and on one whose
groups span several tiny blocks, as groups over ``BLOCK_TARGET`` bytes do.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from batchd.daemon.journal import Journal, JournalCorrupt
from batchd.daemon.journal.records import JournalRecord
from batchd.daemon.journal.segment import TORN_DIR, list_segments

SMALL_SEGMENTS = 160


def build_journal(
    directory: Path, syscalls: Any, helpers: Any, groups: list[list[int]]
) -> list[JournalRecord]:
    """Write one run per entry of ``groups``, committing groups of the given sizes."""
    written: list[JournalRecord] = []
    for run in groups:
        journal, _ = Journal.open(directory, list, segment_limit=SMALL_SEGMENTS, syscalls=syscalls)
        for size in run:
            records = helpers.make_records(size, start=len(written))
            for record in records:
                journal.append(record)
            journal.commit()
            written += records
        journal.close()
    return written


def build_multiblock_journal(
    directory: Path, syscalls: Any, helpers: Any, groups: list[list[int]]
) -> list[JournalRecord]:
    """Like build_journal, but every group of more than two records spans several blocks."""
    written: list[JournalRecord] = []
    runs = []
    for run in groups:
        runs.append([])
        for size in run:
            records = helpers.make_records(size, start=len(written))
            runs[-1].append(records)
            written += records
    helpers.write_journal(
        directory, runs, block_target=40, segment_limit=SMALL_SEGMENTS, syscalls=syscalls
    )
    return written


BUILDERS = {"one-block-groups": build_journal, "multi-block-groups": build_multiblock_journal}


def open_records(directory: Path, syscalls: Any) -> list[JournalRecord]:
    journal, records = Journal.open(
        directory, list, segment_limit=SMALL_SEGMENTS, syscalls=syscalls
    )
    journal.close()
    return records


@pytest.mark.parametrize("layout", BUILDERS)
def test_cut_at_every_byte_offset_recovers_exactly_the_complete_groups(
    tmp_path: Path, no_sync: Any, helpers: Any, layout: str
) -> None:
    source = tmp_path / "source"
    written = BUILDERS[layout](source, no_sync, helpers, [[1, 3, 2, 4], [2, 1, 5]])
    segments = [path.read_bytes() for _n, path in list_segments(source)]
    names = [path.name for _n, path in list_segments(source)]
    assert len(segments) >= 4, "the test needs a multi-segment journal"
    blocks = helpers.read_blocks(source)
    assert sum(block.count for block in blocks) == len(written)
    if layout == "multi-block-groups":
        assert sum(not block.last for block in blocks) >= 4, "the test needs multi-block groups"
    # Global end offset of every complete group in the concatenation of the segments, with
    # the number of records up to and including that group.
    bases = dict(
        zip(names, [sum(map(len, segments[:i])) for i in range(len(segments))], strict=True)
    )
    group_ends = [
        (bases[block.segment.name] + block.end, block.next_lsn - 1)
        for block in blocks
        if block.last
    ]
    total = sum(map(len, segments))

    for cut in range(total + 1):
        target = tmp_path / f"cut-{cut}"
        target.mkdir()
        remaining = cut
        for name, data in zip(names, segments, strict=True):
            if remaining <= 0 and cut < total:
                break
            (target / name).write_bytes(data[:remaining])
            remaining -= len(data)
        complete = max((records for end, records in group_ends if end <= cut), default=0)
        expected = written[:complete]
        assert open_records(target, no_sync) == expected, f"cut at byte {cut}"
        # The repaired journal takes appends and reads back whole.
        if cut % 7 == 0:
            journal, _ = Journal.open(target, list, syscalls=no_sync)
            extra = helpers.make_records(1, start=999)[0]
            assert journal.append(extra) == len(expected) + 1
            journal.close()
            assert open_records(target, no_sync) == [*expected, extra]


@pytest.mark.parametrize("layout", BUILDERS)
@pytest.mark.parametrize("kind", ["zeros", "random", "partial-block"])
@pytest.mark.parametrize("length", [1, 31, 32, 100, 4096])
def test_tails_are_torn_and_set_aside(
    tmp_path: Path, no_sync: Any, helpers: Any, *, kind: str, length: int, layout: str
) -> None:
    directory = tmp_path / "journal"
    written = BUILDERS[layout](directory, no_sync, helpers, [[2, 3]])
    path = list_segments(directory)[-1][1]
    good = path.read_bytes()
    if kind == "zeros":
        tail = bytes(length)
    elif kind == "random":
        tail = random.Random(length).randbytes(length)
    else:
        tail = good[-length:] if length < len(good) else good
    with path.open("ab") as file:
        file.write(tail)

    assert open_records(directory, no_sync) == written
    assert path.read_bytes() == good
    aside = list((directory / TORN_DIR).iterdir())
    assert [file.read_bytes() for file in aside] == [tail]
    assert aside[0].name.startswith(f"{path.name}.at-{len(good)}.")
    # The next run appends and a later recovery sees everything.
    journal, records = Journal.open(directory, list, syscalls=no_sync)
    assert records == written
    more = helpers.make_records(2, start=50)
    for record in more:
        journal.append(record)
    journal.close()
    assert open_records(directory, no_sync) == written + more


@pytest.mark.parametrize("layout", BUILDERS)
def test_every_single_bit_flip_is_detected(
    tmp_path: Path, no_sync: Any, helpers: Any, layout: str
) -> None:
    source = tmp_path / "source"
    written = BUILDERS[layout](source, no_sync, helpers, [[2, 1], [3]])
    files = [(path.name, path.read_bytes()) for _n, path in list_segments(source)]
    outcomes = {"corrupt": 0, "prefix": 0}
    for index, (name, data) in enumerate(files):
        for bit in range(len(data) * 8):
            target = tmp_path / f"flip-{index}-{bit}"
            target.mkdir()
            for other, other_data in files:
                (target / other).write_bytes(other_data)
            damaged = bytearray(data)
            damaged[bit // 8] ^= 1 << (bit % 8)
            (target / name).write_bytes(damaged)
            try:
                records = open_records(target, no_sync)
            except JournalCorrupt:
                outcomes["corrupt"] += 1
                continue
            # Never a damaged record: what recovery returns is a strict prefix of the truth.
            assert records == written[: len(records)], f"bit {bit} of {name}"
            assert len(records) < len(written), f"bit {bit} of {name} went unnoticed"
            outcomes["prefix"] += 1
    assert outcomes["corrupt"] and outcomes["prefix"]
