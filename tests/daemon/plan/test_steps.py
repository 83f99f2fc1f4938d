"""PlannedSteps builds Steps from the item table on demand."""

from __future__ import annotations

import pytest

from batchd.daemon.ops.step import OpKind, Step
from batchd.daemon.plan.items import PlanItem
from batchd.daemon.plan.renames import FROM_TEMP, NORMAL, TO_TEMP
from batchd.daemon.plan.steps import PlannedSteps
from batchd.daemon.plan.table import ItemTable


def test_variants_and_sequence_protocol() -> None:
    table = ItemTable()
    table.append(4, PlanItem(4, OpKind.MOVE, b"/w/x", b"/w/y", overwrite=True))
    table.append(5, PlanItem(5, OpKind.CALL, b"/w/c", handler="h", timeout=3.0))
    steps = PlannedSteps(table, batch=8)
    steps.add(0, TO_TEMP, 0, 10)
    steps.add(1, NORMAL, 0, 3)
    steps.add(0, FROM_TEMP, 1, 10)
    temp = b"/w/.batchd-park-8-4"
    assert list(steps) == [
        Step(0, 4, OpKind.MOVE, b"/w/x", temp, size=10),
        Step(1, 5, OpKind.CALL, b"/w/c", handler="h", size=3, timeout=3.0),
        Step(2, 4, OpKind.MOVE, temp, b"/w/y", overwrite=True, size=10),
    ]
    assert list(steps.levels) == [0, 0, 1]
    assert steps[-1] == steps[2] and list(steps[1:]) == list(steps)[1:]
    with pytest.raises(IndexError):
        steps[3]


def test_timeouts_view() -> None:
    table = ItemTable()
    table.append(1, PlanItem(1, OpKind.TRANSFORM, b"/a", command=("c",), timeout=2.0))
    table.append(2, PlanItem(2, OpKind.DELETE, b"/b"))
    steps = PlannedSteps(table, batch=1)
    steps.add(0, NORMAL, 0, 0)
    steps.add(1, NORMAL, 0, 0)
    assert steps.timeouts == [2.0, None]


def test_rows_are_the_rows_of_the_steps() -> None:
    table = ItemTable()
    table.append(1, PlanItem(1, OpKind.MOVE, b"/w/x", b"/w/y", overwrite=True))
    table.append(2, PlanItem(2, OpKind.CHECKSUM, b"/w/c", algorithm="sha256"))
    table.append(3, PlanItem(3, OpKind.CHECKSUM, b"/w/c", algorithm="md5"))
    table.append(4, PlanItem(4, OpKind.TRANSFORM, b"/w/t", command=("x",), timeout=2.0))
    table.append_transfer(5, (OpKind.COPY, b"/w/a", b"/w/b", False))
    table.append(6, PlanItem(6, OpKind.MKDIR, b"/w/d"))
    steps = PlannedSteps(table, batch=3)
    steps.add(0, TO_TEMP, 0, 10)
    for position in range(1, 6):
        steps.add(position, NORMAL, position, position * 7)
    steps.add(0, FROM_TEMP, 6, 10)
    assert [steps.row(i) for i in range(len(steps))] == [step.to_row() for step in steps]
    assert list(steps.lines()) == [step.line for step in steps]
    assert list(steps.sizes) == [step.size for step in steps]
