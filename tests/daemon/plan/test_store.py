"""The plan store: execution order, exact offsets, ranged reads, clear errors."""

from __future__ import annotations

import itertools
import json
import struct
from pathlib import Path

import msgpack
import pytest

from batchd.daemon.ops.step import OpKind, Step
from batchd.daemon.plan import (
    LevelSpan,
    MemoryFileSystemView,
    PlanStore,
    PlanStoreError,
    PlanStoreWriter,
    validate_plan,
)
from batchd.daemon.plan.store import execution_order


def make_steps() -> tuple[list[Step], list[int]]:
    steps = [
        Step(0, 1, OpKind.MKDIR, b"/w/out"),
        Step(1, 2, OpKind.COPY, b"/w/a", b"/w/out/a", size=10),
        Step(2, 3, OpKind.MOVE, b"/w/\xff", b"/w/b", overwrite=True, size=500),
        Step(3, 4, OpKind.TRANSFORM, b"/w/t", command=("sed", "s/a/b/"), size=500, timeout=2.5),
        Step(4, 5, OpKind.CALL, b"/w/c", handler="exif", args=b"\x80", size=7),
        Step(5, 6, OpKind.CHECKSUM, b"/w/out/a", algorithm="md5"),
    ]
    return steps, [0, 1, 0, 0, 0, 2]


def test_round_trip_in_execution_order(tmp_path: Path) -> None:
    steps, levels = make_steps()
    spans = PlanStoreWriter(tmp_path / "s", batch=42).write(steps, levels)
    with PlanStore.open(tmp_path / "s") as store:
        assert store.total == 6 and store.batch == 42
        assert store.levels == spans == (LevelSpan(0, 0, 4), LevelSpan(1, 4, 1), LevelSpan(2, 5, 1))
        read = store.read(0, 100)
    # level, then bigger first, then plan line
    assert [step.line for step in read] == [3, 4, 5, 1, 2, 6]
    assert [step.index for step in read] == list(range(6))
    by_line = {step.line: step for step in steps}
    for step in read:
        assert step.to_row()[1:] == by_line[step.line].to_row()[1:]


def test_ranges_and_offsets_are_exact(tmp_path: Path) -> None:
    steps, levels = make_steps()
    PlanStoreWriter(tmp_path, batch=1).write(steps, levels)
    data = (tmp_path / "steps.bin").read_bytes()
    offsets = [v for (v,) in struct.iter_unpack("<Q", (tmp_path / "index.bin").read_bytes())]
    assert len(offsets) == 7 and offsets[0] == 0 and offsets[-1] == len(data)
    with PlanStore.open(tmp_path) as store:
        everything = store.read(0, 6)
        for first in range(7):
            for count in range(8):
                assert store.read(first, count) == everything[first : first + count]
    for index, (start, end) in enumerate(itertools.pairwise(offsets)):
        assert Step.from_row(msgpack.unpackb(data[start:end])) == everything[index]
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_bad_ranges(tmp_path: Path) -> None:
    steps, levels = make_steps()
    PlanStoreWriter(tmp_path, batch=1).write(steps, levels)
    with PlanStore.open(tmp_path) as store:
        with pytest.raises(ValueError, match="outside"):
            store.read(7, 1)
        with pytest.raises(ValueError, match="outside"):
            store.read(-1, 1)


def test_empty_plan(tmp_path: Path) -> None:
    PlanStoreWriter(tmp_path, batch=1).write([], [])
    with PlanStore.open(tmp_path) as store:
        assert store.total == 0 and store.levels == () and store.read(0, 10) == []


def test_incomplete_or_foreign_stores_are_refused(tmp_path: Path) -> None:
    with pytest.raises(PlanStoreError, match=r"plan\.meta is missing"):
        PlanStore.open(tmp_path)
    steps, levels = make_steps()
    PlanStoreWriter(tmp_path, batch=1).write(steps, levels)
    meta = msgpack.unpackb((tmp_path / "plan.meta").read_bytes())
    (tmp_path / "plan.meta").write_bytes(msgpack.packb(meta | {"format": 99}))
    with pytest.raises(PlanStoreError, match="format 99; this batchd reads format 1"):
        PlanStore.open(tmp_path)
    (tmp_path / "plan.meta").write_bytes(msgpack.packb(meta))
    with (tmp_path / "steps.bin").open("ab") as out:
        out.write(b"x")
    with pytest.raises(PlanStoreError, match=r"steps\.bin is not"):
        PlanStore.open(tmp_path)


def test_mismatched_levels_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="2 steps but 1 levels"):
        PlanStoreWriter(tmp_path, batch=1).write(make_steps()[0][:2], [0])


def test_separate_timeouts_fill_steps_without_one(tmp_path: Path) -> None:
    steps = [Step(0, 1, OpKind.TRANSFORM, b"/a", command=("c",)), Step(1, 2, OpKind.DELETE, b"/b")]
    PlanStoreWriter(tmp_path, batch=1).write(steps, [0, 1], [4.0, None])
    with PlanStore.open(tmp_path) as store:
        assert [step.timeout for step in store.read(0, 2)] == [4.0, 0.0]


def test_planned_steps_are_stored_like_the_same_steps_as_a_list(tmp_path: Path) -> None:
    # The writer reads PlannedSteps' columns instead of building Steps; same bytes.
    lines = [
        {"op": "mkdir", "path": "out"},
        {"op": "copy", "src": "a", "dst": "out/a"},
        {"op": "move", "src": "b", "dst": "c"},
        {"op": "move", "src": "c", "dst": "b"},
        {"op": "checksum", "path": "a"},
        {"op": "transform", "path": "big", "command": ["sed", "x"], "timeout": 2},
    ]
    fs = MemoryFileSystemView()
    for name, size in ((b"/w/a", 5), (b"/w/b", 9), (b"/w/c", 9), (b"/w/big", 900)):
        fs.add_file(name, size)
    result = validate_plan(
        [(n, json.dumps(line).encode()) for n, line in enumerate(lines, start=1)],
        cwd=b"/w", fs=fs, batch=5, known_handlers=(),
    )  # fmt: skip
    assert result.steps is not None
    steps = result.steps
    PlanStoreWriter(tmp_path / "columns", batch=5).write(steps, steps.levels)
    PlanStoreWriter(tmp_path / "list", batch=5).write(list(steps), list(steps.levels))
    for name in ("steps.bin", "index.bin", "plan.meta"):
        assert (tmp_path / "columns" / name).read_bytes() == (tmp_path / "list" / name).read_bytes()
    assert execution_order(steps, steps.levels) == execution_order(list(steps), steps.levels)
