"""The steps of a validated plan, stored as columns and turned into ``Step`` on access.

A 100,000-item plan keeps four small arrays here plus the parsed items, instead of 100,000
``Step`` objects; the plan store writes them out one at a time.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator, Sequence
from typing import overload

from batchd.daemon.ops.step import OpKind, Step
from batchd.daemon.plan.items import DEFAULT_ALGORITHM
from batchd.daemon.plan.paths import temp_path
from batchd.daemon.plan.renames import FROM_TEMP, NORMAL, TO_TEMP
from batchd.daemon.plan.table import ItemTable


class PlannedSteps(Sequence[Step]):
    """Every step of a valid plan in validation order, with its dependency level.

    ``self[i]`` is a ``Step`` whose ``index`` is ``i``; the plan store reorders steps for
    execution and assigns the final indexes. ``levels[i]`` is the step's level: 0 when it
    depends on nothing, else one more than the highest level of an earlier step it conflicts
    with.
    """

    def __init__(self, items: ItemTable, batch: int) -> None:
        self._items = items
        self._batch = batch
        self._positions = array("i")
        self._variants = bytearray()
        self.levels = array("i")
        self._sizes = array("q")

    def add(self, position: int, variant: int, level: int, size: int) -> None:
        """Append the step of item ``position`` (a routed rename adds two variants)."""
        self._positions.append(position)
        self._variants.append(variant)
        self.levels.append(level)
        self._sizes.append(size)

    def __len__(self) -> int:
        return len(self._positions)

    @overload
    def __getitem__(self, index: int) -> Step: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Step]: ...

    def __getitem__(self, index: int | slice) -> Step | Sequence[Step]:
        if isinstance(index, slice):
            return [self._step(i) for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"step {index} out of range")
        return self._step(index)

    def _step(self, index: int) -> Step:
        item = self._items[self._positions[index]]
        assert item is not None
        size = self._sizes[index]
        variant = self._variants[index]
        if variant == TO_TEMP:
            temp = temp_path(item.path, self._batch, item.line)
            return Step(index, item.line, OpKind.MOVE, item.path, temp, size=size)
        if variant == FROM_TEMP:
            assert item.dest is not None
            temp = temp_path(item.path, self._batch, item.line)
            return Step(index, item.line, OpKind.MOVE, temp, item.dest, item.overwrite, size=size)
        return Step(
            index, item.line, item.op, item.path, item.dest, item.overwrite, item.command,
            item.algorithm, item.handler, item.args, size, item.timeout or 0.0,
        )  # fmt: skip

    def row(self, index: int) -> list[object]:
        """``self[index].to_row()``, without building the ``Step`` for a plain item (the plan
        store writes rows)."""
        plain = self._items.plain(self._positions[index])
        if plain is None or self._variants[index] != NORMAL:
            return self._step(index).to_row()
        line, op, path, dest, overwrite = plain
        algorithm = DEFAULT_ALGORITHM if op is OpKind.CHECKSUM else ""
        size = self._sizes[index]
        return [index, line, int(op), path, dest, overwrite, [], algorithm, "", b"", size, 0.0, b""]

    def lines(self) -> Iterator[int]:
        """The plan line of every step, in order (``self[i].line``)."""
        return map(self._items.line, self._positions)

    @property
    def sizes(self) -> Sequence[int]:
        """The size of every step, in order (``self[i].size``)."""
        return self._sizes

    @property
    def timeouts(self) -> Sequence[float | None]:
        """Per step, the item's timeout in seconds or None (also in ``Step.timeout``; kept
        for callers of ``PlanStoreWriter.write`` that pass it)."""
        return [None if step.timeout == 0 else step.timeout for step in self]
