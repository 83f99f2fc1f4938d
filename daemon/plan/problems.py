"""What is wrong with a plan: one ``Problem`` per finding, collected up to a limit."""

from __future__ import annotations

import heapq
from dataclasses import dataclass


@dataclass(frozen=True, slots=True, order=True)
class Problem:
    """One reason a plan is invalid, tied to the 1-based physical line of the plan file."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


class ProblemSink:
    """Counts every problem and keeps the ``limit`` with the lowest line numbers.

    Validation finds problems in several passes (parsing, renames, simulation), not in line
    order; keeping the lowest lines means the report always starts at the top of the file.
    """

    __slots__ = ("_heap", "_limit", "_sequence", "count")

    def __init__(self, limit: int) -> None:
        if limit < 0:
            raise ValueError(f"max_problems must be >= 0, got {limit}")
        self._limit = limit
        # A max-heap by (line, arrival) through negation, so the worst kept problem is on top.
        self._heap: list[tuple[int, int, Problem]] = []
        self._sequence = 0
        self.count = 0

    def add(self, line: int, message: str) -> None:
        """Record a problem found on ``line``."""
        self.count += 1
        self._sequence += 1
        entry = (-line, -self._sequence, Problem(line, message))
        if len(self._heap) < self._limit:
            heapq.heappush(self._heap, entry)
        elif self._heap and entry > self._heap[0]:
            heapq.heapreplace(self._heap, entry)

    def sorted(self) -> tuple[Problem, ...]:
        """The kept problems by line, in the order they were found within a line."""
        return tuple(problem for _, _, problem in sorted(self._heap, reverse=True))
