"""recover → append → crash → recover, many rounds: nothing committed is ever lost."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from batchd.daemon.journal import Journal
from batchd.daemon.journal.records import JournalRecord
from batchd.daemon.journal.segment import list_segments

CRASHES = ["no-close", "torn-write", "hole-in-group", "garbage-tail", "clean-close"]


def check_on_disk(directory: Path, helpers: Any, records: int, last_segment: int) -> int:
    """Check the repaired journal holds exactly ``records`` in whole groups and numbered
    segments, with a new one since the last round; returns the last segment number."""
    blocks = helpers.read_blocks(directory)
    lsns = [lsn for block in blocks for lsn in range(block.first_lsn, block.next_lsn)]
    assert lsns == list(range(1, records + 1))
    assert all(block.last for block in blocks), "an incomplete group survived recovery"
    segments = [number for number, _ in list_segments(directory)]
    assert segments == list(range(1, len(segments) + 1)) and segments[-1] > last_segment
    return segments[-1]


@pytest.mark.parametrize("seed", range(4))
def test_recover_append_crash_cycles_lose_nothing_durable(
    tmp_path: Path, fake_syscalls: Any, crash_type: type[BaseException], helpers: Any, seed: int
) -> None:
    rng = random.Random(seed)
    directory = tmp_path / "journal"
    durable: list[JournalRecord] = []  # everything commit() reported durable, in order
    history: list[JournalRecord] = []  # everything recovery must be a prefix of
    last_segment = 0
    for round_number in range(12):
        syscalls = fake_syscalls(sync=False)
        journal, recovered = Journal.open(directory, list, segment_limit=500, syscalls=syscalls)

        assert recovered[: len(durable)] == durable, f"round {round_number} lost durable records"
        assert recovered == history[: len(recovered)], f"round {round_number} invented records"
        last_segment = check_on_disk(directory, helpers, len(recovered), last_segment)
        durable, history = list(recovered), list(recovered)

        for _ in range(rng.randint(1, 3)):
            group = helpers.make_records(rng.randint(1, 6), start=len(history))
            for record in group:
                assert journal.append(record) == len(history) + 1
                history.append(record)
            assert journal.commit() == len(history)
            durable = list(history)

        unacknowledged = helpers.make_records(rng.randint(1, 6), start=len(history))
        for record in unacknowledged:
            journal.append(record)
        history += unacknowledged
        crash = CRASHES[(round_number + seed) % len(CRASHES)]
        segment = list_segments(directory)[-1][1]
        if crash == "torn-write":
            syscalls.crash_after_bytes = rng.randint(0, 40 * len(unacknowledged))
            with pytest.raises(crash_type):
                journal.commit()
        elif crash == "hole-in-group":
            start = segment.stat().st_size
            syscalls.crash_in_fdatasync = True
            with pytest.raises(crash_type):
                journal.commit()
            # Power loss during an unsynced write: some pages of the group never arrived.
            data = bytearray(segment.read_bytes())
            hole = rng.randrange(start, len(data))
            end = min(len(data), hole + rng.randint(1, 64))
            data[hole:end] = bytes(end - hole)
            segment.write_bytes(bytes(data))
        elif crash == "garbage-tail":
            with segment.open("ab") as file:
                file.write(rng.randbytes(rng.randint(1, 300)))
        elif crash == "clean-close":
            journal.close()
            durable = list(history)
        # "no-close" and the others: the journal object is abandoned, like a killed process.

    journal, recovered = Journal.open(directory, list, syscalls=fake_syscalls(sync=False))
    journal.close()
    assert recovered[: len(durable)] == durable
    assert recovered == history[: len(recovered)]
