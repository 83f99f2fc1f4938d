"""Record types, the positional codec, and payloads this build cannot read."""

from __future__ import annotations

import dataclasses
import enum
import struct
from pathlib import Path

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from batchd.daemon.journal import Journal, JournalCorrupt, UnsupportedJournalFormat
from batchd.daemon.journal.codec import RecordCodec
from batchd.daemon.journal.format import PayloadError, decode_header, encode_block
from batchd.daemon.journal.records import (
    RECORD_TYPES,
    DaemonStarted,
    DaemonStopped,
    JournalRecord,
    decode_record,
    decode_records,
    encode_record,
)
from batchd.daemon.journal.segment import list_segments


def unpack_all(data: bytes) -> list[object]:
    unpacker = msgpack.Unpacker(use_list=False)
    unpacker.feed(data)
    return list(unpacker)


def test_every_record_type_is_a_frozen_slotted_dataclass_with_a_small_int_tag() -> None:
    for tag, cls in RECORD_TYPES.items():
        assert type(tag) is int and 0 <= tag < 128
        assert dataclasses.is_dataclass(cls) and issubclass(cls, JournalRecord)
        assert cls.__dataclass_params__.frozen  # type: ignore[attr-defined]
        assert "__slots__" in cls.__dict__
    assert len(set(RECORD_TYPES.values())) == len(RECORD_TYPES)


@pytest.mark.parametrize(
    "record",
    [DaemonStarted(pid=12, time=1.5, version="0.1.0"), DaemonStopped(time=2.0, clean=True)],
)
def test_record_is_a_positional_array(record: JournalRecord) -> None:
    payload = msgpack.unpackb(encode_record(record), use_list=False)
    tag = {cls: tag for tag, cls in RECORD_TYPES.items()}[type(record)]
    fields = tuple(getattr(record, f.name) for f in dataclasses.fields(record))  # type: ignore[arg-type]
    assert payload == (tag, *fields)
    assert decode_record(payload) == record
    assert decode_records([payload]) == [record]


def test_documented_payload_bytes() -> None:
    # docs/journal-format.md shows this example byte for byte.
    assert encode_record(DaemonStopped(time=1.0, clean=True)).hex(" ") == (
        "93 02 cb 3f f0 00 00 00 00 00 00 c3"
    )


def test_an_int_for_a_float_field_is_stored_as_a_float() -> None:
    record = DaemonStarted(pid=1, time=3, version="v")  # type: ignore[arg-type]
    decoded = decode_record(msgpack.unpackb(encode_record(record), use_list=False))
    assert decoded == record and type(decoded.time) is float  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "record",
    [
        DaemonStarted(pid=True, time=1.0, version="v"),
        DaemonStarted(pid=1, time=1.0, version=b"v"),  # type: ignore[arg-type]
        DaemonStopped(time="now", clean=True),  # type: ignore[arg-type]
        DaemonStopped(time=1.0, clean=1),
    ],
)
def test_a_mistyped_record_cannot_be_appended(record: JournalRecord) -> None:
    with pytest.raises(TypeError, match="to be journaled"):
        encode_record(record)


def test_unregistered_record_type_cannot_be_appended() -> None:
    @dataclasses.dataclass(frozen=True, slots=True)
    class Stray(JournalRecord):
        x: int

    with pytest.raises(TypeError, match="not registered"):
        encode_record(Stray(1))


@pytest.mark.parametrize(
    ("payload", "unsupported"),
    [
        ((99, 1), True),
        ({"t": 1}, False),
        ((), False),
        (("daemon_started", 1, 1.0, "v"), False),
        ((1.0, 1, 1.0, "v"), False),
        ((True, 1, 1.0, "v"), False),
        ((1, "one", 1.0, "v"), False),
        ((1, 1, 1, "v"), False),
        ((2, 1.0), False),
        ((2, 1.0, True, 1), False),
        ((2, 1.0, None), False),
    ],
)
def test_bad_payloads_are_refused(payload: object, unsupported: bool) -> None:
    with pytest.raises(PayloadError) as raised:
        decode_record(payload)
    assert raised.value.unsupported is unsupported
    good = (2, 5.0, False)
    with pytest.raises(PayloadError) as in_block:
        decode_records([good, good, payload, good])
    assert in_block.value.unsupported is unsupported
    assert in_block.value.index == 2


def test_a_bool_tag_is_not_taken_for_the_equal_int_tag() -> None:
    with pytest.raises(PayloadError) as raised:
        decode_records([(2, 1.0, True), (True, 1.0, True)])
    assert raised.value.index == 1 and not raised.value.unsupported


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


@dataclasses.dataclass(frozen=True, slots=True)
class Wide:
    name: str
    size: int | None
    digest: bytes
    colour: Colour
    level: Level | None
    ratio: float


@dataclasses.dataclass(frozen=True, slots=True)
class Nested:
    paths: tuple[str, ...]
    colour: Colour


@dataclasses.dataclass(frozen=True, slots=True)
class Empty:
    pass


TEST_CODEC = RecordCodec({7: Wide, 8: Nested, 9: Empty, 200: DaemonStopped})

wides = st.builds(
    Wide,
    name=st.text(max_size=20),
    size=st.none() | st.integers(-(2**63), 2**64 - 1),
    digest=st.binary(max_size=20),
    colour=st.sampled_from(Colour),
    level=st.none() | st.sampled_from(Level),
    ratio=st.floats(allow_nan=False),
)
nesteds = st.builds(
    Nested,
    paths=st.lists(st.text(max_size=5), max_size=3).map(tuple),
    colour=st.sampled_from(Colour),
)
stops = st.builds(DaemonStopped, time=st.floats(allow_nan=False), clean=st.booleans())
records = st.one_of(wides, nesteds, st.just(Empty()), stops)


@given(block=st.lists(records, max_size=30))
def test_codec_round_trips_mixed_blocks(block: list[object]) -> None:
    data = b"".join(TEST_CODEC.encode(record) for record in block)
    objects = unpack_all(data)
    assert TEST_CODEC.decode_block(objects) == block
    assert [TEST_CODEC.decode(obj) for obj in objects] == block


@pytest.mark.parametrize(
    "payload",
    [
        (7, "n", None, b"", "green", None, 1.0),
        (7, "n", None, b"", "red", 3, 1.0),
        (7, "n", None, b"", "red", None, 1),
        (7, "n", False, b"", "red", None, 1.0),
        (8, ("a", 1), "red"),
        (8, ("a",), "green"),
        (9, 1),
    ],
)
def test_codec_refuses_bad_fields_of_every_kind(payload: tuple[object, ...]) -> None:
    with pytest.raises(PayloadError) as raised:
        TEST_CODEC.decode(payload)
    assert not raised.value.unsupported
    with pytest.raises(PayloadError) as in_block:
        TEST_CODEC.decode_block([(9,), payload])
    assert in_block.value.index == 1


def test_codec_refuses_an_enum_field_given_a_plain_value() -> None:
    with pytest.raises(TypeError, match="must be Colour"):
        TEST_CODEC.encode(Wide("n", 1, b"", "red", None, 1.0))  # type: ignore[arg-type]


def test_codec_refuses_unfit_record_classes() -> None:
    @dataclasses.dataclass(frozen=True)
    class NoSlots:
        x: int

    @dataclasses.dataclass(slots=True)
    class Mutable:
        x: int

    for cls in (NoSlots, Mutable):
        with pytest.raises(TypeError):
            RecordCodec({1: cls})
    with pytest.raises(TypeError, match="not an int"):
        RecordCodec({"one": Empty})  # type: ignore[dict-item]


def _append_raw_block(directory: Path, payloads: bytes, count: int) -> tuple[Path, int]:
    """Append a checksum-valid block carrying ``payloads`` to the last segment."""
    path = list_segments(directory)[-1][1]
    data = path.read_bytes()
    header = decode_header(data)
    lsn = header.first_lsn  # the last segment is the empty one made by the last open
    with path.open("ab") as file:
        file.write(
            encode_block(
                payloads, count=count, first_lsn=lsn, group_offset=0, last=True, salt=header.salt
            )
        )
    return path, len(data)


def _journal_with_one_run(directory: Path) -> None:
    journal, _ = Journal.open(directory, list)
    journal.close()


def test_unknown_record_tag_in_a_valid_block_is_a_newer_format(tmp_path: Path) -> None:
    directory = tmp_path / "journal"
    _journal_with_one_run(directory)
    good = encode_record(DaemonStopped(time=1.0, clean=True))
    path, offset = _append_raw_block(directory, good + msgpack.packb((77, "x")), 2)
    with pytest.raises(UnsupportedJournalFormat) as raised:
        Journal.open(directory, list)
    assert (raised.value.segment, raised.value.offset) == (path, offset)
    assert "tag 77" in str(raised.value) and str(path) in str(raised.value)
    assert "LSN 2" in str(raised.value)


@pytest.mark.parametrize(
    ("payloads", "count"),
    [
        (b"\xc1\xc1 not msgpack", 3),
        (b"\x93\x02\xcb?\xf0\x00\x00\x00\x00\x00\x00\xc3", 2),  # fewer records than counted
        (b"\x92\x02\xcb?\xf0\x00\x00\x00\x00\x00\x00\xc3\xc3", 1),  # bytes left over
        (b"\x93\x02\xcb?\xf0\x00\x00\x00\x00\x00\x00", 1),  # a record cut short
        (b"\x93\x02\xcb?\xf0\x00\x00\x00\x00\x00\x00\xc3\xc3", 1),  # trailing object
    ],
)
def test_valid_block_whose_payloads_do_not_split_into_its_count_is_corrupt(
    tmp_path: Path, payloads: bytes, count: int
) -> None:
    directory = tmp_path / "journal"
    _journal_with_one_run(directory)
    path, offset = _append_raw_block(directory, payloads, count)
    with pytest.raises(JournalCorrupt) as raised:
        Journal.open(directory, list)
    assert not isinstance(raised.value, UnsupportedJournalFormat)
    assert (raised.value.segment, raised.value.offset) == (path, offset)


def test_block_header_count_must_match_even_with_extra_valid_records(tmp_path: Path) -> None:
    directory = tmp_path / "journal"
    _journal_with_one_run(directory)
    one = encode_record(DaemonStopped(time=1.0, clean=True))
    path, offset = _append_raw_block(directory, one * 3, 2)
    with pytest.raises(JournalCorrupt, match="counts 2"):
        Journal.open(directory, list)
    assert struct.unpack_from("<I", path.read_bytes(), offset + 12)[0] == 2
