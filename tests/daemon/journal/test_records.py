"""Record types, their payloads, and payloads this build cannot read."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import msgpack
import pytest

from batchd.daemon.journal import Journal, JournalCorrupt, UnsupportedJournalFormat
from batchd.daemon.journal.format import PayloadError, decode_header, encode_frame
from batchd.daemon.journal.records import (
    RECORD_TYPES,
    TAG_KEY,
    DaemonStarted,
    DaemonStopped,
    JournalRecord,
    decode_record,
    encode_record,
)
from batchd.daemon.journal.segment import list_segments


def test_every_record_type_is_a_frozen_slotted_dataclass_without_the_tag_field() -> None:
    for tag, cls in RECORD_TYPES.items():
        assert tag and isinstance(tag, str)
        assert dataclasses.is_dataclass(cls) and issubclass(cls, JournalRecord)
        assert cls.__dataclass_params__.frozen  # type: ignore[attr-defined]
        assert "__slots__" in cls.__dict__
        assert TAG_KEY not in {field.name for field in dataclasses.fields(cls)}
    assert len(set(RECORD_TYPES.values())) == len(RECORD_TYPES)


@pytest.mark.parametrize(
    "record",
    [DaemonStarted(pid=12, time=1.5, version="0.1.0"), DaemonStopped(time=2.0, clean=True)],
)
def test_record_round_trip(record: JournalRecord) -> None:
    payload = msgpack.unpackb(encode_record(record))
    assert payload[TAG_KEY] in RECORD_TYPES
    assert decode_record(payload) == record


def test_unregistered_record_type_cannot_be_appended() -> None:
    @dataclasses.dataclass(frozen=True, slots=True)
    class Stray(JournalRecord):
        x: int

    with pytest.raises(TypeError, match="not registered"):
        encode_record(Stray(1))


@pytest.mark.parametrize(
    ("payload", "unsupported"),
    [
        ({TAG_KEY: "batch_from_the_future", "x": 1}, True),
        ([1, 2], False),
        ({"pid": 1}, False),
        ({TAG_KEY: "daemon_started", "pid": "one", "time": 1.0, "version": "v"}, False),
        ({TAG_KEY: "daemon_stopped", "time": 1.0}, False),
        ({TAG_KEY: "daemon_stopped", "time": 1.0, "clean": True, "extra": 1}, False),
    ],
)
def test_bad_payloads_are_refused(payload: object, unsupported: bool) -> None:
    with pytest.raises(PayloadError) as raised:
        decode_record(payload)
    assert raised.value.unsupported is unsupported


def _append_raw_frame(directory: Path, payload: bytes) -> tuple[Path, int]:
    """Append a checksum-valid frame carrying ``payload`` to the last segment."""
    path = list_segments(directory)[-1][1]
    data = path.read_bytes()
    header = decode_header(data)
    lsn = header.first_lsn  # the last segment is the empty one made by the last open
    with path.open("ab") as file:
        file.write(encode_frame(payload, lsn, 0, header.salt))
    return path, len(data)


def _journal_with_one_run(directory: Path) -> None:
    journal, _ = Journal.open(directory, list)
    journal.close()


def test_unknown_record_tag_in_a_valid_frame_is_a_newer_format(tmp_path: Path) -> None:
    directory = tmp_path / "journal"
    _journal_with_one_run(directory)
    path, offset = _append_raw_frame(directory, msgpack.packb({TAG_KEY: "from_the_future"}))
    with pytest.raises(UnsupportedJournalFormat) as raised:
        Journal.open(directory, list)
    assert (raised.value.segment, raised.value.offset) == (path, offset)
    assert "from_the_future" in str(raised.value) and str(path) in str(raised.value)


def test_valid_frame_with_garbage_payload_is_corrupt(tmp_path: Path) -> None:
    directory = tmp_path / "journal"
    _journal_with_one_run(directory)
    path, offset = _append_raw_frame(directory, b"\xc1\xc1 not msgpack")
    with pytest.raises(JournalCorrupt) as raised:
        Journal.open(directory, list)
    assert not isinstance(raised.value, UnsupportedJournalFormat)
    assert (raised.value.segment, raised.value.offset) == (path, offset)
