"""Rename groups: chains, cycles, their order and the moves dropped before grouping."""

from __future__ import annotations

from batchd.daemon.ops.step import OpKind
from batchd.daemon.plan.items import PlanItem
from batchd.daemon.plan.problems import ProblemSink
from batchd.daemon.plan.renames import FROM_TEMP, NORMAL, TO_TEMP, Renames
from batchd.daemon.plan.table import ItemTable


def renames_of(*pairs: tuple[str, str] | None) -> tuple[Renames, ProblemSink]:
    table = ItemTable()
    for line, pair in enumerate(pairs, start=1):
        if pair is None:
            table.append(line, PlanItem(line, OpKind.MKDIR, b"/elsewhere"))
        else:
            src, dst = (b"/" + name.encode() for name in pair)
            table.append(line, PlanItem(line, OpKind.MOVE, src, dst))
    sink = ProblemSink(100)
    return Renames(table, sink), sink


def test_single_moves_have_no_group() -> None:
    renames, sink = renames_of(("a", "b"), ("c", "d"))
    assert renames.groups == [] and sink.count == 0
    assert renames.group_of(0) is None


def test_chain_order_runs_from_the_end() -> None:
    renames, _ = renames_of(("a", "b"), ("b", "c"), ("c", "d"))
    group = renames.group_of(1)
    assert group is not None and not group.cycle
    assert group.order == [(2, NORMAL), (1, NORMAL), (0, NORMAL)]
    assert (group.first, group.last) == (0, 2)
    assert list(renames.prev) == [-1, 0, 1]


def test_cycle_routes_its_first_member_in_plan_order() -> None:
    renames, _ = renames_of(("y", "z"), ("z", "x"), ("x", "y"))
    group = renames.group_of(0)
    assert group is not None and group.cycle
    assert group.order == [(0, TO_TEMP), (2, NORMAL), (1, NORMAL), (0, FROM_TEMP)]


def test_groups_with_other_items_between_keep_their_paths() -> None:
    renames, _ = renames_of(("a", "b"), None, ("b", "a"))
    group = renames.group_of(0)
    assert group is not None and group.paths == {b"/a", b"/b"}
    tight, _ = renames_of(("a", "b"), ("b", "a"))
    assert tight.groups[0].paths == set()


def test_duplicates_are_dropped_with_problems() -> None:
    renames, sink = renames_of(("a", "b"), ("a", "c"), ("d", "b"))
    assert [str(p) for p in sink.sorted()] == [
        "line 2: source /a is also moved by line 1",
        "line 3: destination /b is also written by line 1",
    ]
    assert renames.groups == []
