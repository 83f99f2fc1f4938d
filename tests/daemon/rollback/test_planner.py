"""Planning a rollback from a real plan store, a results-like post-state map and a real undo
store in tmp_path: which undo steps, on which levels, and what is left out."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from batchd.daemon.batches.batch import CODES
from batchd.daemon.ops.fs import FileSystem
from batchd.daemon.ops.inverse import MOVE_BACK, REMOVE, RESTORE, RMDIR
from batchd.daemon.ops.mkdir import EXISTS
from batchd.daemon.ops.step import Fingerprint, OpKind, Step
from batchd.daemon.ops.undo import UndoStore
from batchd.daemon.plan.store import PlanStore, PlanStoreWriter
from batchd.daemon.rollback.planner import (
    READ_CHUNK,
    PlannedUndo,
    RollbackPlan,
    TargetBatch,
    completed_items,
    plan_rollback,
)
from batchd.daemon.rollback.selection import Selection
from batchd.protocol.batch_messages import ItemState

DONE = CODES[ItemState.COMPLETED]
FAILED = CODES[ItemState.FAILED]
PENDING = CODES[ItemState.PENDING]
EVERYTHING = Selection()


@dataclass
class Forward:
    """A forward batch written to a plan store, with its steps by (line, op) for lookups."""

    id: int
    store: PlanStore
    steps: list[Step]
    levels: dict[int, int]

    def index(self, line: int, op: OpKind, path: bytes | None = None) -> int:
        """The index of the step of ``line`` with ``op`` (and ``path``)."""
        (found,) = [
            s.index
            for s in self.steps
            if s.line == line and s.op is op and (path is None or s.path == path)
        ]
        return found

    def target(
        self,
        *,
        states: bytearray | None = None,
        undone: bytearray | None = None,
        post: dict[int, tuple[Fingerprint | None, bytes, str]] | None = None,
    ) -> TargetBatch:
        """A TargetBatch over the store; every item completed unless ``states`` says."""
        return TargetBatch(
            self.id,
            self.store,
            bytearray([DONE] * len(self.steps)) if states is None else states,
            undone,
            {} if post is None else post,
        )


def _write(directory: Path, batch: int, rows: list[tuple[int, Step]]) -> Forward:
    PlanStoreWriter(directory, batch=batch).write([s for _, s in rows], [lv for lv, _ in rows])
    store = PlanStore.open(directory)
    steps = store.read(0, store.total)
    levels = {step.index: span.level for span in store.levels
              for step in steps if span.first <= step.index < span.first + span.count}  # fmt: skip
    return Forward(batch, store, steps, levels)


@pytest.fixture
def undo_store(tmp_path: Path) -> UndoStore:
    return UndoStore(tmp_path / "state" / "undo", FileSystem())


def _keep(store: UndoStore, batch: int, index: int) -> None:
    """Put an entry into the undo store as a forward op would have."""
    entry = Path(os.fsdecode(store.path_for(batch, index)))
    entry.parent.mkdir(parents=True, exist_ok=True)
    entry.write_bytes(b"original")


def _p(root: Path, name: str) -> bytes:
    return bytes(root / name)


@pytest.fixture
def mixed(tmp_path: Path, undo_store: UndoStore) -> Forward:
    """Batch 5: a swap of a and b through a temp name (lines 1, 2; three levels), a delete,
    a checksum, a move that overwrote its destination, a copy, a delete whose undo data is
    gone, a new and an existing mkdir."""
    root = tmp_path / "data"
    tmp = _p(root, ".batchd-park-5-1")
    a, b = _p(root, "a"), _p(root, "b")
    forward = _write(
        tmp_path / "batches" / "5",
        5,
        [
            (0, Step(0, 1, OpKind.MOVE, a, tmp)),
            (1, Step(0, 2, OpKind.MOVE, b, a)),
            (2, Step(0, 1, OpKind.MOVE, tmp, b)),
            (0, Step(0, 3, OpKind.DELETE, _p(root, "d"))),
            (0, Step(0, 4, OpKind.CHECKSUM, _p(root, "c"))),
            (0, Step(0, 5, OpKind.MOVE, _p(root, "m"), _p(root, "k"), overwrite=True)),
            (1, Step(0, 6, OpKind.COPY, _p(root, "c"), _p(root, "c2"))),
            (0, Step(0, 7, OpKind.DELETE, _p(root, "e"))),
            (0, Step(0, 8, OpKind.MKDIR, _p(root, "new"))),
            (0, Step(0, 9, OpKind.MKDIR, _p(root, "old"))),
        ],
    )
    _keep(undo_store, 5, forward.index(3, OpKind.DELETE))
    _keep(undo_store, 5, forward.index(5, OpKind.MOVE))
    return forward


def _post(forward: Forward) -> dict[int, tuple[Fingerprint | None, bytes, str]]:
    """Post-states as the results log gives them: a fingerprint per item, EXISTS for line 9."""
    post: dict[int, tuple[Fingerprint | None, bytes, str]] = {}
    for step in forward.steps:
        result = EXISTS if step.line == 9 else ""
        post[step.index] = (Fingerprint(1, 100 + step.index, 5, 7, 0o100644), b"d", result)
    return post


def _by_origin(plan: RollbackPlan) -> dict[tuple[int, int], list[PlannedUndo]]:
    found: dict[tuple[int, int], list[PlannedUndo]] = {}
    for undo in sorted(plan.undos, key=lambda u: u.level):
        found.setdefault(undo.origin, []).append(undo)
    return found


def test_everything_is_planned_with_the_right_undo_steps(
    mixed: Forward, undo_store: UndoStore
) -> None:
    plan = plan_rollback([mixed.target(post=_post(mixed))], EVERYTHING, undo_store, force=False)
    assert plan.batches == [5] and plan.already == []
    undos = _by_origin(plan)
    delete = mixed.index(3, OpKind.DELETE)
    (restore,) = undos[(5, delete)]
    assert restore.step.op is OpKind.RESTORE and restore.action == RESTORE
    assert restore.step.dest == undo_store.path_for(5, delete)
    copy = mixed.index(6, OpKind.COPY)
    (remove,) = undos[(5, copy)]
    assert (remove.step.op, remove.action, remove.step.path) == (
        OpKind.DELETE,
        REMOVE,
        mixed.steps[copy].dest,
    )
    # what the copy left is what the undo checks, down to the digest
    assert remove.expected == Fingerprint(1, 100 + copy, 5, 7, 0o100644)
    assert remove.step.digest == b"d"
    (rmdir,) = undos[(5, mixed.index(8, OpKind.MKDIR))]
    assert rmdir.step.op is OpKind.RMDIR and rmdir.action == RMDIR
    assert all(undo.step.line == mixed.steps[undo.origin[1]].line for undo in plan.undos)
    # 2 steps for line 1, 1 each for lines 2, 3, 6, 8, the overwriting move of line 5
    assert plan.items == 7


def test_within_a_batch_levels_run_backwards(
    mixed: Forward, undo_store: UndoStore, tmp_path: Path
) -> None:
    root = tmp_path / "data"
    plan = plan_rollback([mixed.target(post=_post(mixed))], EVERYTHING, undo_store, force=False)
    undos = _by_origin(plan)
    (first,) = undos[(5, mixed.index(1, OpKind.MOVE, _p(root, "a")))]
    (second,) = undos[(5, mixed.index(2, OpKind.MOVE))]
    (last,) = undos[(5, mixed.index(1, OpKind.MOVE, _p(root, ".batchd-park-5-1")))]
    # the swap unwinds from its end: b back to tmp, then a back to b, then tmp back to a
    assert last.level < second.level < first.level
    assert (last.step.path, last.step.dest) == (_p(root, "b"), _p(root, ".batchd-park-5-1"))
    assert (first.step.path, first.step.dest) == (_p(root, ".batchd-park-5-1"), _p(root, "a"))
    for (_, one), a in undos.items():
        for (_, other), b in undos.items():
            if mixed.levels[one] < mixed.levels[other]:
                assert max(u.level for u in b) < min(u.level for u in a)


def test_a_multi_step_undo_gets_consecutive_levels(mixed: Forward, undo_store: UndoStore) -> None:
    plan = plan_rollback([mixed.target(post=_post(mixed))], EVERYTHING, undo_store, force=False)
    move = mixed.index(5, OpKind.MOVE)
    back, restore = _by_origin(plan)[(5, move)]
    assert (back.action, restore.action) == (MOVE_BACK, RESTORE)
    assert restore.level == back.level + 1
    assert back.step.path == mixed.steps[move].dest and back.step.dest == mixed.steps[move].path
    assert restore.step.dest == undo_store.path_for(5, move)
    # no other undo shares the restore's level with a step that must run before it
    assert all(u.level != restore.level or u.action != MOVE_BACK for u in plan.undos)


def test_checksums_and_existing_directories_are_noops(
    mixed: Forward, undo_store: UndoStore
) -> None:
    plan = plan_rollback([mixed.target(post=_post(mixed))], EVERYTHING, undo_store, force=False)
    assert sorted(plan.noops) == sorted(
        [(5, mixed.index(4, OpKind.CHECKSUM)), (5, mixed.index(9, OpKind.MKDIR))]
    )
    noop_items = {index for _, index in plan.noops}
    assert all(undo.origin[1] not in noop_items for undo in plan.undos)


def test_a_delete_without_its_store_entry_is_missing(mixed: Forward, undo_store: UndoStore) -> None:
    plan = plan_rollback([mixed.target(post=_post(mixed))], EVERYTHING, undo_store, force=False)
    ((batch, line, reason),) = plan.missing
    assert (batch, line) == (5, 7)
    assert "undo data of line 7" in reason and "is gone" in reason
    assert all(undo.step.line != 7 for undo in plan.undos)


@pytest.mark.parametrize(
    ("items", "lines"),
    [("2", {2}), ("1", {1}), ("3,6", {3, 6}), ("1-3", {1, 2, 3}), ("4", set())],
)
def test_items_select_plan_lines_with_all_their_steps(
    mixed: Forward, undo_store: UndoStore, items: str, lines: set[int]
) -> None:
    selection = Selection.parse(items, ())
    plan = plan_rollback([mixed.target(post=_post(mixed))], selection, undo_store, force=False)
    assert {undo.step.line for undo in plan.undos} == lines
    if 1 in lines:
        assert len({undo.origin for undo in plan.undos if undo.step.line == 1}) == 2


def test_a_path_glob_on_the_temp_name_brings_the_whole_line(
    mixed: Forward, undo_store: UndoStore, tmp_path: Path
) -> None:
    selection = Selection.parse("", (str(tmp_path / "data" / ".batchd-park-*"),))
    plan = plan_rollback([mixed.target(post=_post(mixed))], selection, undo_store, force=False)
    assert {undo.step.line for undo in plan.undos} == {1}
    assert len(plan.undos) == 2 and plan.items == 2


def test_undone_and_unfinished_items_are_skipped(mixed: Forward, undo_store: UndoStore) -> None:
    states = bytearray([DONE] * len(mixed.steps))
    undone = bytearray(len(mixed.steps))
    states[mixed.index(6, OpKind.COPY)] = FAILED
    states[mixed.index(8, OpKind.MKDIR)] = PENDING
    undone[mixed.index(3, OpKind.DELETE)] = 1
    target = mixed.target(states=states, undone=undone, post=_post(mixed))
    plan = plan_rollback([target], EVERYTHING, undo_store, force=False)
    assert {undo.step.line for undo in plan.undos} == {1, 2, 5}
    assert {step.line for step, _ in completed_items(target)} == {1, 2, 4, 5, 7, 9}


def test_a_batch_with_nothing_left_is_already_rolled_back(
    mixed: Forward, undo_store: UndoStore
) -> None:
    undone = bytearray([1] * len(mixed.steps))
    plan = plan_rollback([mixed.target(undone=undone)], EVERYTHING, undo_store, force=False)
    assert plan == RollbackPlan(already=[5])
    failed = bytearray([FAILED] * len(mixed.steps))
    plan = plan_rollback([mixed.target(states=failed)], EVERYTHING, undo_store, force=False)
    assert plan == RollbackPlan(already=[5])


def test_a_batch_the_selection_misses_is_already(mixed: Forward, undo_store: UndoStore) -> None:
    plan = plan_rollback([mixed.target()], Selection.parse("99", ()), undo_store, force=False)
    assert plan.already == [5] and plan.undos == [] and plan.batches == []


def test_several_batches_newest_first(
    mixed: Forward, undo_store: UndoStore, tmp_path: Path
) -> None:
    root = tmp_path / "data"
    newer = _write(
        tmp_path / "batches" / "8",
        8,
        [
            (0, Step(0, 1, OpKind.MOVE, _p(root, "b"), _p(root, "b2"))),
            (1, Step(0, 2, OpKind.COPY, _p(root, "b2"), _p(root, "b3"))),
            (3, Step(0, 3, OpKind.MKDIR, _p(root, "dir"))),
        ],
    )
    plan = plan_rollback(
        [newer.target(post=_post(newer)), mixed.target(post=_post(mixed))],
        EVERYTHING,
        undo_store,
        force=False,
    )
    assert plan.batches == [8, 5]
    newest = max(u.level for u in plan.undos if u.origin[0] == 8)
    assert newest < min(u.level for u in plan.undos if u.origin[0] == 5)
    undos = _by_origin(plan)
    assert (
        undos[(8, newer.index(3, OpKind.MKDIR))][0].level
        < undos[(8, newer.index(2, OpKind.COPY))][0].level
        < undos[(8, newer.index(1, OpKind.MOVE))][0].level
    )


def test_force_checks_nothing_and_overwrites(mixed: Forward, undo_store: UndoStore) -> None:
    plan = plan_rollback([mixed.target(post=_post(mixed))], EVERYTHING, undo_store, force=True)
    assert all(undo.expected is None and undo.step.digest == b"" for undo in plan.undos)
    assert all(
        undo.step.overwrite for undo in plan.undos if undo.step.op in (OpKind.MOVE, OpKind.RESTORE)
    )
    assert plan.missing == [(5, 7, plan.missing[0][2])]  # forcing does not invent undo data


def test_planning_a_big_batch_keeps_the_watchdog_fed(tmp_path: Path) -> None:
    # Planning runs in the daemon's loop: a million-item rollback takes seconds, so the
    # planner calls keepalive (the watchdog ping) for every chunk it reads and plans.
    steps = [
        Step(i, i + 1, OpKind.MOVE, b"/w/a%d" % i, b"/w/b%d" % i) for i in range(3 * READ_CHUNK)
    ]
    directory = tmp_path / "plan"
    PlanStoreWriter(directory, batch=1).write(steps, [0] * len(steps))
    store = UndoStore(tmp_path / "undo", FileSystem())
    calls: list[int] = []
    with PlanStore.open(directory) as plan:
        target = TargetBatch(
            1, plan, bytearray([CODES[ItemState.COMPLETED]]) * len(steps), None, {}
        )
        result = plan_rollback(
            [target], Selection(), store, force=False, keepalive=lambda: calls.append(1)
        )
    assert len(result.undos) == len(steps)
    assert len(calls) >= 6  # 3 chunks read + 3 chunks planned
