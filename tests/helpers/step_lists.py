"""A StepSource over a list of steps, with explicit dependency levels (no plan store)."""

from __future__ import annotations

from collections.abc import Sequence

from batchd.daemon.ops.step import OpKind, Step
from batchd.daemon.plan.store import LevelSpan


class ListSteps:
    """Checksum steps of ``/fN`` grouped into levels of the given sizes."""

    def __init__(self, level_sizes: Sequence[int]) -> None:
        self._steps: list[Step] = []
        self._levels: list[LevelSpan] = []
        for level, size in enumerate(level_sizes):
            first = len(self._steps)
            self._levels.append(LevelSpan(level, first, size))
            for _ in range(size):
                index = len(self._steps)
                self._steps.append(Step(index, index + 1, OpKind.CHECKSUM, b"/f%d" % index))

    @property
    def total(self) -> int:
        return len(self._steps)

    @property
    def levels(self) -> Sequence[LevelSpan]:
        return self._levels

    def read(self, first: int, count: int) -> list[Step]:
        return self._steps[first : first + count]
