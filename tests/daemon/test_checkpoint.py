"""Checkpoints of the folded state: round trip, fallback, and equivalence with a full replay."""

from __future__ import annotations

import tempfile
from pathlib import Path

import hypothesis.strategies as st
from hypothesis import HealthCheck, given, settings

from batchd.daemon.batches.recovery import BatchesFold, RecoveredBatch
from batchd.daemon.checkpoint import (
    Checkpointer,
    FoldedState,
    StateFold,
    checkpoint_files,
    decode_state,
    encode_state,
    load_checkpoint,
)
from batchd.daemon.journal import Journal
from batchd.daemon.journal.records import (
    BatchControl,
    BatchCreated,
    BatchEnded,
    DaemonStarted,
    DaemonStopped,
    ItemDone,
    ItemIntent,
    JournalRecord,
)
from batchd.daemon.journal.recovery import DaemonHistory, recover
from batchd.daemon.journal.segment import list_segments
from batchd.daemon.ops.step import Fingerprint

TOTAL = 6
"""Items per generated batch (small, so that records hit the same items often)."""

_batch_ids = st.integers(1, 4)  # 4 is sometimes never created: records for it are ignored
_index = st.integers(0, TOTAL - 1)
_fingerprint = st.tuples(
    st.integers(0, 3), st.integers(0, 3), st.integers(0, 9), st.integers(0, 9), st.integers(0, 9)
)

RECORDS = st.one_of(
    st.builds(
        BatchCreated, _batch_ids, st.just("b"), st.just(TOTAL), st.integers(0, 2), st.just(1.0)
    ),
    _batch_ids.flatmap(
        lambda b: st.tuples(_index, st.integers(1, 300), _fingerprint).map(
            lambda t: ItemIntent(b, t[0], t[1], *t[2])
        )
    ),
    st.tuples(
        _batch_ids, _index, st.integers(0, 5), st.integers(0, 300), st.sampled_from(["", "e"])
    ).flatmap(
        lambda t: _fingerprint.map(lambda fp: ItemDone(t[0], t[1], t[2], t[3], t[4], "r", *fp, b""))
    ),
    st.builds(
        BatchControl,
        _batch_ids,
        st.sampled_from(["pause", "resume", "cancel", "retry"]),
        st.just(2.0),
    ),
    st.builds(BatchEnded, _batch_ids, st.sampled_from(["completed", "failed"]), st.just(3.0)),
    st.builds(DaemonStarted, st.integers(1, 9), st.just(4.0), st.just("v")),
    st.builds(DaemonStopped, st.just(5.0), st.booleans()),
)


def _fold(records: list[JournalRecord], start: FoldedState | None = None) -> StateFold:
    fold = StateFold(start)
    fold.replay(records)
    return fold


def _state(fold: StateFold) -> tuple[DaemonHistory, dict[int, RecoveredBatch]]:
    return fold.history.history, fold.batches.batches


@settings(max_examples=300, deadline=None)
@given(st.lists(RECORDS, max_size=60), st.data())
def test_checkpoint_plus_tail_equals_full_replay(
    records: list[JournalRecord], data: st.DataObject
) -> None:
    split = data.draw(st.integers(0, len(records)))
    head = _fold(records[:split])
    history, batches = decode_state(head.encode())
    resumed = _fold(records[split:], FoldedState(split, history, batches))
    assert _state(resumed) == _state(_fold(records))
    # The fold the daemon always ran (recover + BatchesFold) agrees too.
    plain = BatchesFold()
    assert recover(plain.observe(records)) == _state(resumed)[0]
    assert plain.batches == _state(resumed)[1]


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(RECORDS, min_size=1, max_size=40), st.data())
def test_recovery_through_real_files_equals_full_replay(
    records: list[JournalRecord], data: st.DataObject
) -> None:
    cuts = sorted(data.draw(st.lists(st.integers(0, len(records)), max_size=3)))
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp)
        _run(state, records, cuts)
        full_fold = _fold(records)
        loaded = load_checkpoint(checkpoint_files(state))
        fold = StateFold(loaded)
        journal, history = Journal.open(
            state / "journal", fold.replay, after_lsn=0 if loaded is None else loaded.lsn
        )
        journal.close()
        assert history == full_fold.history.history
        assert fold.batches.batches == full_fold.batches.batches


def _run(state: Path, records: list[JournalRecord], cuts: list[int]) -> None:
    """Append ``records`` through a live fold, checkpointing after each cut position."""
    fold = StateFold()
    journal, _ = Journal.open(state / "journal", fold.replay, on_append=fold.apply)
    checkpointer = Checkpointer(journal, checkpoint_files(state), fold, last_lsn=0)
    for position, record in enumerate(records, 1):
        journal.append(record)
        if position in cuts:
            checkpointer.write()
    journal.close()


def _sample_state() -> tuple[DaemonHistory, dict[int, RecoveredBatch]]:
    start = DaemonStarted(pid=7, time=1.5, version="0.1")
    history = DaemonHistory(starts=2, last_start=start, last_stop_clean=False)
    batch = RecoveredBatch(
        created=BatchCreated(3, "name é", 4, 1, 12.5),
        states=bytearray([3, 4, 0, 2]),
        attempts=bytearray([1, 2, 0, 255]),
        expected={2: Fingerprint(1, 2, 3, 4, 0o100644), 3: None},
        interrupted={2},
        errors={1: "ENOENT: gone"},
        ended=None,
        paused=True,
        cancelled=False,
    )
    return history, {3: batch}


def test_round_trip_of_a_state() -> None:
    history, batches = _sample_state()
    assert decode_state(encode_state(history, batches)) == (history, batches)
    empty = DaemonHistory(0, None, None)
    assert decode_state(encode_state(empty, {})) == (empty, {})


def test_checkpointer_keeps_two_and_deletes_segments_up_to_the_older(tmp_path: Path) -> None:
    fold = StateFold()
    journal, _ = Journal.open(tmp_path / "journal", fold.replay, on_append=fold.apply)
    files = checkpoint_files(tmp_path)
    checkpointer = Checkpointer(journal, files, fold, last_lsn=0, every_records=10)
    lsns = []
    for round_ in range(5):
        for index in range(10):
            journal.append(DaemonStarted(pid=round_ * 10 + index, time=0.0, version="t"))
        assert not checkpointer.due(0.0)  # counts durable records only
        journal.commit()
        assert checkpointer.due(0.0)
        lsns.append(checkpointer.write())
        assert not checkpointer.due(0.0)
    assert lsns == [10, 20, 30, 40, 50]
    assert [lsn for lsn, _ in files.list()] == [40, 50]
    # Segments 41..50 and the current one remain: fallback to checkpoint 40 still works.
    assert len(list_segments(tmp_path / "journal")) == 2
    journal.close()


def test_corrupt_newest_checkpoint_falls_back_to_the_previous(tmp_path: Path) -> None:
    records: list[JournalRecord] = [DaemonStarted(1, 0.0, "v"), BatchCreated(1, "b", 3, 0, 0.0)]
    records += [ItemDone(1, i, 3, 1, "", "", 0, 0, 0, 0, 0, b"") for i in range(3)]
    records += [BatchEnded(1, "completed", 1.0), DaemonStopped(2.0, True)]
    _run(tmp_path, records, cuts=[2, 3, 5, 6])
    files = checkpoint_files(tmp_path)
    assert [lsn for lsn, _ in files.list()] == [5, 6]
    newest = files.list()[-1][1]
    newest.write_bytes(newest.read_bytes()[:-1])  # a torn or damaged newest checkpoint
    loaded = load_checkpoint(files)
    assert loaded is not None and loaded.lsn == 5
    fold = StateFold(loaded)
    journal, history = Journal.open(tmp_path / "journal", fold.replay, after_lsn=loaded.lsn)
    journal.close()
    expected = _fold(records)
    assert history == expected.history.history and history.last_stop_clean
    assert fold.batches.batches == expected.batches.batches


def test_a_crash_while_writing_leaves_a_temporary_that_is_ignored(tmp_path: Path) -> None:
    records: list[JournalRecord] = [BatchCreated(1, "b", 2, 0, 0.0)]
    records += [
        ItemIntent(1, 0, 1, 1, 2, 3, 4, 5),
        ItemDone(1, 0, 3, 1, "", "", 0, 0, 0, 0, 0, b""),
    ]
    _run(tmp_path, records, cuts=[1])
    files = checkpoint_files(tmp_path)
    (files.directory / "checkpoint-00000000000000000003.bin.tmp").write_bytes(b"\x89BDC half")
    loaded = load_checkpoint(files)
    assert loaded is not None and loaded.lsn == 1
    fold = StateFold(loaded)
    journal, _ = Journal.open(tmp_path / "journal", fold.replay, after_lsn=1)
    checkpointer = Checkpointer(journal, files, fold, last_lsn=1)
    assert checkpointer.write() == 3
    journal.close()
    assert sorted(p.name for p in files.directory.iterdir()) == [
        "checkpoint-00000000000000000001.bin",
        "checkpoint-00000000000000000003.bin",
    ]
    assert fold.batches.batches == _fold(records).batches.batches


def test_expected_fingerprints_of_interrupted_items_survive(tmp_path: Path) -> None:
    records: list[JournalRecord] = [
        BatchCreated(1, "b", 3, 0, 0.0),
        ItemIntent(1, 0, 1, 10, 20, 30, 40, 0o100600),
        ItemIntent(1, 1, 1, 0, 0, 0, 0, 0),
        ItemDone(1, 2, 2, 1, "EAGAIN", "", 0, 0, 0, 0, 0, b""),
    ]
    _run(tmp_path, records, cuts=[4])
    loaded = load_checkpoint(checkpoint_files(tmp_path))
    assert loaded is not None
    batch = loaded.batches[1]
    assert batch.expected == {0: Fingerprint(10, 20, 30, 40, 0o100600), 1: None}
    assert batch.interrupted == {0, 1}


def test_nothing_new_writes_nothing(tmp_path: Path) -> None:
    fold = StateFold()
    journal, _ = Journal.open(tmp_path / "journal", fold.replay, on_append=fold.apply)
    checkpointer = Checkpointer(journal, checkpoint_files(tmp_path), fold, last_lsn=0)
    assert not checkpointer.due(10**9)
    assert checkpointer.write() == 0
    assert checkpoint_files(tmp_path).list() == []
    journal.close()
