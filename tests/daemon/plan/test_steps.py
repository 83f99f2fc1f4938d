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
