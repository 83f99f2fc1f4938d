"""``validate_plan``: plan lines in, a complete list of problems or the ordered steps out."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

from batchd.daemon.plan.fsview import FileSystemView
from batchd.daemon.plan.items import PlanItem, parse_line
from batchd.daemon.plan.problems import Problem, ProblemSink
from batchd.daemon.plan.renames import Renames
from batchd.daemon.plan.simulate import Simulator
from batchd.daemon.plan.steps import PlannedSteps
from batchd.daemon.plan.table import ItemTable


@dataclass(frozen=True, slots=True)
class ValidationResult:
    """The outcome of validating a whole plan.

    ``problems`` holds at most ``max_problems`` problems (those with the lowest lines, sorted
    by line); ``problem_count`` counts all of them. ``total_lines`` is the number of items
    (non-blank lines). ``steps`` is set only when there is no problem.
    """

    problems: tuple[Problem, ...]
    problem_count: int
    total_lines: int
    steps: PlannedSteps | None

    @property
    def ok(self) -> bool:
        """True when the plan may run."""
        return self.problem_count == 0


def validate_plan(
    lines: Iterable[tuple[int, bytes]],
    *,
    cwd: bytes,
    fs: FileSystemView,
    batch: int,
    known_handlers: Collection[str],
    max_problems: int = 1000,
) -> ValidationResult:
    """Check every line of a plan against the filesystem and each other; see
    docs/plan-format.md for the rules. ``lines`` come from ``read_plan_lines``; ``cwd`` is
    the submitting client's working directory (absolute); ``batch`` names temporary files.
    """
    if not cwd.startswith(b"/"):
        raise ValueError(f"cwd must be an absolute path, got {cwd!r}")
    cwd = cwd.rstrip(b"/")
    sink = ProblemSink(max_problems)
    items = ItemTable()
    for number, raw in lines:
        parsed = parse_line(number, raw, cwd=cwd, known_handlers=known_handlers)
        if isinstance(parsed, tuple):
            items.append_transfer(number, parsed)
        elif isinstance(parsed, PlanItem):
            items.append(number, parsed)
        else:
            items.append(number, None)
            for message in parsed:
                sink.add(number, message)
    renames = Renames(items, sink)
    simulator = Simulator(items, renames, fs, batch, sink)
    simulator.run()
    steps = simulator.steps if sink.count == 0 else None
    return ValidationResult(sink.sorted(), sink.count, len(items), steps)
