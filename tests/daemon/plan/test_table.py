"""The compact item table gives back the items it was given."""

from __future__ import annotations

from batchd.daemon.ops.step import OpKind
from batchd.daemon.plan.items import PlanItem
from batchd.daemon.plan.table import ItemTable


def test_items_round_trip_and_invalidate() -> None:
    items = [
        PlanItem(1, OpKind.MOVE, b"/a", b"/b", overwrite=True),
        PlanItem(2, OpKind.CHECKSUM, b"/a", algorithm="sha256"),
        PlanItem(3, OpKind.CHECKSUM, b"/a", algorithm="md5"),
        PlanItem(4, OpKind.TRANSFORM, b"/a", command=("sed", "s/a/b/"), timeout=2.5),
        PlanItem(6, OpKind.CALL, b"/a", handler="h", args=b"\x80"),
        PlanItem(7, OpKind.MKDIR, b"/d"),
    ]
    table = ItemTable()
    for item in items[:4]:
        table.append(item.line, item)
    table.append(5, None)
    for item in items[4:]:
        table.append(item.line, item)
    assert list(table) == [*items[:4], None, *items[4:]]
    assert table.kind(0) is OpKind.MOVE and table.path(0) == b"/a" and table.dest(0) == b"/b"
    assert table.kind(4) is None
    table.invalidate(3)
    assert table[3] is None and table.line(3) == 4 and len(table) == 7


def test_identical_commands_are_stored_once() -> None:
    table = ItemTable()
    for line in (1, 2):
        table.append(line, PlanItem(line, OpKind.TRANSFORM, b"/a", command=("sed", "x")))
    first, second = table[0], table[1]
    assert first is not None and second is not None
    assert first.command is second.command


def test_transfers_are_stored_like_their_items() -> None:
    table = ItemTable()
    table.append_transfer(3, (OpKind.COPY, b"/a", b"/b", True))
    table.append(4, PlanItem(4, OpKind.MOVE, b"/c", b"/d"))
    table.append(5, PlanItem(5, OpKind.CHECKSUM, b"/e", algorithm="md5"))
    assert table[0] == PlanItem(3, OpKind.COPY, b"/a", b"/b", overwrite=True)
    assert table.plain(0) == (3, OpKind.COPY, b"/a", b"/b", True)
    assert table.plain(1) == (4, OpKind.MOVE, b"/c", b"/d", False)
    assert table.plain(2) is None  # options beyond the paths: only the PlanItem has them
    table.invalidate(0)
    assert table.plain(0) is None
