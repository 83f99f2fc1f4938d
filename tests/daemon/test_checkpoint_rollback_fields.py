"""The rollback fields of a checkpointed batch (end time, rollback_of, purge time): encoded,
decoded, folded from RollbackOf/BatchPurged, and absent from older 9-field rows."""

from __future__ import annotations

import hypothesis.strategies as st
import msgpack
from hypothesis import given, settings

from batchd.daemon.batches.recovery import BatchesFold, RecoveredBatch
from batchd.daemon.checkpoint import FoldedState, StateFold, decode_state, encode_state
from batchd.daemon.journal.records import (
    BatchControl,
    BatchCreated,
    BatchEnded,
    BatchPurged,
    ItemDone,
    JournalRecord,
    RollbackOf,
    decode_record,
    encode_record,
)
from batchd.daemon.journal.recovery import DaemonHistory
from batchd.daemon.ops.step import Fingerprint

HISTORY = DaemonHistory(starts=0, last_start=None, last_stop_clean=None)


def _batch(batch_id: int, **fields: object) -> RecoveredBatch:
    batch = RecoveredBatch(
        created=BatchCreated(batch_id, f"b{batch_id}", 3, 0, 10.0),
        states=bytearray([3, 0, 4]),
        attempts=bytearray([1, 0, 2]),
        expected={1: Fingerprint(1, 2, 3, 4, 0o100644)},
        interrupted={1},
        errors={2: "boom"},
        ended="failed",
    )
    for name, value in fields.items():
        setattr(batch, name, value)
    return batch


def test_the_new_fields_round_trip() -> None:
    batches = {
        4: _batch(4, ended_time=1_800_000_123.25, purged_at=1_800_000_999.5),
        7: _batch(7, ended_time=12.0, rollback_of=[6, 4]),
        9: _batch(9, ended=None),
    }
    _, decoded = decode_state(encode_state(HISTORY, batches))
    assert decoded == batches
    assert decoded[4].purged_at == 1_800_000_999.5 and decoded[4].rollback_of == []
    assert decoded[7].rollback_of == [6, 4] and decoded[7].ended_time == 12.0
    assert decoded[9].ended_time is None and decoded[9].purged_at is None


def test_a_nine_field_legacy_row_decodes_without_the_new_fields() -> None:
    body = encode_state(HISTORY, {5: _batch(5, ended_time=3.0, rollback_of=[2], purged_at=4.0)})
    history, rows = msgpack.unpackb(body, use_list=True, raw=False)
    legacy = msgpack.packb([history, [row[:9] for row in rows]], use_bin_type=True)
    _, decoded = decode_state(legacy)
    assert decoded == {5: _batch(5)}
    assert decoded[5].ended_time is None
    assert decoded[5].rollback_of == [] and decoded[5].purged_at is None
    assert decoded[5].errors == {2: "boom"} and decoded[5].ended == "failed"


def test_the_fold_keeps_rollback_of_in_order_purge_and_end_times() -> None:
    fold = BatchesFold()
    for record in (
        BatchCreated(1, "a", 1, 0, 1.0),
        BatchEnded(1, "completed", 2.0),
        BatchCreated(2, "rollback of 1", 1, 0, 3.0),
        RollbackOf(2, 1, 3.0),
        RollbackOf(2, 0, 3.0),  # a target the journal never created is still recorded
        RollbackOf(8, 1, 3.0),  # a rollback batch that does not exist: ignored
        BatchPurged(1, 9.0),
        BatchPurged(8, 9.0),
    ):
        fold.apply(record)
    one, two = fold.batches[1], fold.batches[2]
    assert one.ended_time == 2.0 and one.purged_at == 9.0 and one.rollback_of == []
    assert two.rollback_of == [1, 0] and two.ended_time is None
    copied = fold.copy_batches()
    copied[2].rollback_of.append(99)
    assert fold.batches[2].rollback_of == [1, 0]


def test_the_records_round_trip_through_the_codec() -> None:
    for record in (RollbackOf(3, 1, 5.5), BatchPurged(1, 6.25)):
        assert decode_record(msgpack.unpackb(encode_record(record))) == record


_ids = st.integers(1, 4)
RECORDS = st.one_of(
    st.builds(BatchCreated, _ids, st.just("b"), st.just(3), st.just(0), st.just(1.0)),
    st.builds(BatchEnded, _ids, st.sampled_from(["completed", "cancelled"]), st.floats(0, 9)),
    st.builds(RollbackOf, _ids, _ids, st.just(2.0)),
    st.builds(BatchPurged, _ids, st.floats(0, 9)),
    st.builds(BatchControl, _ids, st.sampled_from(["cancel", "retry"]), st.just(2.0)),
    st.tuples(_ids, st.integers(0, 2), st.sampled_from([3, 4])).map(
        lambda t: ItemDone(t[0], t[1], t[2], 1, "", "", 1, 2, 3, 4, 5, b"")
    ),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(RECORDS, max_size=30), st.data())
def test_checkpoint_plus_tail_equals_full_replay(
    records: list[JournalRecord], data: st.DataObject
) -> None:
    split = data.draw(st.integers(0, len(records)))
    head = StateFold()
    head.replay(records[:split])
    history, batches = decode_state(head.encode())
    resumed = StateFold(FoldedState(split, history, batches))
    resumed.replay(records[split:])
    full = StateFold()
    full.replay(records)
    assert resumed.batches.batches == full.batches.batches
