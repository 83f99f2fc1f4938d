"""Planning a rollback: the undo steps of the chosen items of one or more batches, in the
order that undoes them safely, as a plan a batch of its own can run.

Undo goes newest batch first and, within a batch, level by level backwards: the forward plan
put every step that depends on another on a later level, so undoing later levels first
undoes dependents before what they depend on (a rename chain ``a→tmp, b→a, tmp→b`` unwinds
from its end), while the steps of one level stay independent and run in parallel. The undo
of one item may take several steps (move back, then restore what the move overwrote); they
get consecutive levels. Only completed items that no earlier rollback undid are planned; an
item selected by ``--paths`` brings the other steps of its plan line along (a rename routed
through a temporary name is undone whole or not at all).

Pure except for reading the batches' steps and looking into the undo store.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Final

from batchd.daemon.batches.batch import CODES, StepSource
from batchd.daemon.ops.inverse import MissingUndoData, inverse_steps
from batchd.daemon.ops.step import Fingerprint, Step
from batchd.daemon.ops.undo import UndoStore
from batchd.daemon.rollback.selection import Selection
from batchd.protocol.batch_messages import ItemState

READ_CHUNK: Final = 4096
_COMPLETED: Final = CODES[ItemState.COMPLETED]


@dataclass(frozen=True, slots=True)
class TargetBatch:
    """What planning needs of one batch to roll back."""

    id: int
    steps: StepSource
    states: bytearray
    undone: bytearray | None
    """1 for items a rollback already undid (None: none yet)."""
    post_states: dict[int, tuple[Fingerprint | None, bytes, str]]
    """index → (post fingerprint, digest, result) of completed items (results log)."""


@dataclass(frozen=True, slots=True)
class PlannedUndo:
    """One undo step with what its path must hold, what it does, which forward item it
    undoes (``origin``: batch, index) and its dependency level in the rollback plan."""

    step: Step
    expected: Fingerprint | None
    action: str
    origin: tuple[int, int]
    level: int


@dataclass
class RollbackPlan:
    """The planned undo steps (any order; ``level`` orders them) and what was left out."""

    undos: list[PlannedUndo] = field(default_factory=list)
    batches: list[int] = field(default_factory=list)
    """The batches with something to undo, newest first."""
    already: list[int] = field(default_factory=list)
    """Batches with nothing left to undo (rolled back before, or nothing completed)."""
    missing: list[tuple[int, int, str]] = field(default_factory=list)
    """(batch, line, reason) of items whose undo data is gone."""
    items: int = 0
    """Forward items planned."""
    noops: list[tuple[int, int]] = field(default_factory=list)
    """(batch, index) of selected items with nothing to undo (checksums)."""


def _nothing() -> None:
    """The default keep-alive: nothing to tell."""


def completed_items(
    target: TargetBatch, keepalive: Callable[[], None] = _nothing
) -> list[tuple[Step, int]]:
    """(step, forward level) of every completed item not undone yet, in execution order;
    ``keepalive`` is called after every chunk read (the daemon pings its watchdog: planning
    a million-item rollback runs in its loop for seconds)."""
    found: list[tuple[Step, int]] = []
    states, undone = target.states, target.undone
    for span in target.steps.levels:
        end = span.first + span.count
        for first in range(span.first, end, READ_CHUNK):
            keepalive()
            count = min(READ_CHUNK, end - first)
            chunk = states[first : first + count]
            if _COMPLETED not in chunk:
                continue
            for step in target.steps.read(first, count):
                index = step.index
                if states[index] == _COMPLETED and (undone is None or not undone[index]):
                    found.append((step, span.level))
    return found


def selected(items: list[tuple[Step, int]], selection: Selection) -> list[tuple[Step, int]]:
    """The items the selection picks, with every other step of their plan lines."""
    if selection.everything:
        return items
    lines = {step.line for step, _ in items if selection.selects(step)}
    return [(step, level) for step, level in items if step.line in lines]


def plan_rollback(
    targets: Sequence[TargetBatch],
    selection: Selection,
    store: UndoStore,
    *,
    force: bool,
    keepalive: Callable[[], None] = _nothing,
) -> RollbackPlan:
    """Plan the undo of ``targets`` (newest first); ``keepalive`` as for completed_items."""
    plan = RollbackPlan()
    base = 0
    for target in targets:
        items = selected(completed_items(target, keepalive), selection)
        inverses = []
        for number, (step, level) in enumerate(items):
            if number % READ_CHUNK == 0:
                keepalive()
            post, digest, result = target.post_states.get(step.index, (None, b"", ""))
            try:
                undo = inverse_steps(
                    step, post, digest, batch=target.id, store=store, force=force, result=result
                )
            except MissingUndoData as exc:
                plan.missing.append((target.id, step.line, str(exc)))
                continue
            if undo:
                inverses.append((step, level, undo))
            else:
                plan.noops.append((target.id, step.index))
        if not inverses:
            plan.already.append(target.id)
            continue
        plan.batches.append(target.id)
        plan.items += len(inverses)
        width = max(len(undo) for _, _, undo in inverses)
        top = max(level for _, level, _ in inverses)
        for step, level, undo in inverses:
            for offset, part in enumerate(undo):
                plan.undos.append(
                    PlannedUndo(
                        step=part.step,
                        expected=part.expected,
                        action=part.action,
                        origin=(target.id, step.index),
                        level=base + (top - level) * width + offset,
                    )
                )
        base += (top + 1) * width
    return plan
