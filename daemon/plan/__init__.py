"""Plans: JSON Lines in, validated and ordered steps out (pure; the filesystem is a view).

- ``reader``: the JSON Lines reader (``read_plan_lines``).
- ``items``, ``paths``: one line into a ``PlanItem`` with absolute, normalized byte paths.
- ``renames``: moves as one simultaneous rename (chains, cycles, temporary names).
- ``tree``, ``simulate``: the plan run over a virtual tree; problems and dependency levels.
- ``watch``: items that fall between the members of a chain or cycle of moves.
- ``validate``: ``validate_plan`` and ``ValidationResult``.
- ``steps``: ``PlannedSteps``, the compact table of the resulting steps.
- ``store``: ``PlanStoreWriter``/``PlanStore``, the on-disk plan the daemon executes from.
- ``fsview``: the ``FileSystemView`` protocol, the real adapter and an in-memory fake.

The formats are documented in docs/plan-format.md.
"""

from batchd.daemon.plan.fsview import FileSystemView, MemoryFileSystemView, OsFileSystemView
from batchd.daemon.plan.items import PlanItem
from batchd.daemon.plan.problems import Problem
from batchd.daemon.plan.reader import read_plan_lines
from batchd.daemon.plan.steps import PlannedSteps
from batchd.daemon.plan.store import LevelSpan, PlanStore, PlanStoreError, PlanStoreWriter
from batchd.daemon.plan.validate import ValidationResult, validate_plan

__all__ = [
    "FileSystemView",
    "LevelSpan",
    "MemoryFileSystemView",
    "OsFileSystemView",
    "PlanItem",
    "PlanStore",
    "PlanStoreError",
    "PlanStoreWriter",
    "PlannedSteps",
    "Problem",
    "ValidationResult",
    "read_plan_lines",
    "validate_plan",
]
