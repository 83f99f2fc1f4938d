"""Rollback at run time: answers ``rollback`` requests by planning the undo of batches and
starting it as a batch of its own, and keeps every batch's undone items and state current.

A rollback batch R runs like any batch (journaled INTENT/DONE per step, so a crash during a
rollback resumes it); its ledger (``rollback.bin``) says which forward item each step undoes.
An item of batch X counts as undone when every undo step of it in some R completed and no
later rollback of R undid those steps again; X's state follows (``rolling_back`` while an R
of it runs, then ``rolled_back`` or ``partially_rolled_back``). All of that is derived from
the journal-backed states of the batches, so nothing extra is journaled for it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

from batchd.daemon.batches.batch import CODES, Batch
from batchd.daemon.batches.engine import BatchEngine
from batchd.daemon.journal.records import (
    BatchControl,
    BatchCreated,
    BatchSubmittedBy,
    RollbackOf,
)
from batchd.daemon.ops.fs import FileSystem
from batchd.daemon.ops.undo import UndoStore
from batchd.daemon.peers import requesting_peer
from batchd.daemon.plan.store import PlanStore, PlanStoreWriter, execution_order
from batchd.daemon.rollback.ledger import Ledger, read_ledger, undone_by, write_ledger
from batchd.daemon.rollback.overlap import overlaps, touched
from batchd.daemon.rollback.planner import (
    RollbackPlan,
    TargetBatch,
    completed_items,
    plan_rollback,
    selected,
)
from batchd.daemon.rollback.preview import conflicts as preview_conflicts
from batchd.daemon.rollback.selection import Selection
from batchd.daemon.rollback.states import state_after_rollbacks
from batchd.protocol.batch_messages import BatchState, ItemState
from batchd.protocol.errors import (
    BatchBusy,
    InvalidArguments,
    RollbackBlocked,
    RollbackUnavailable,
    Unavailable,
)
from batchd.protocol.rollback_messages import RollbackAction, RollbackReply, RollbackRequest

log = logging.getLogger(__name__)

PREVIEW_LIMIT = 1000
_PENDING = CODES[ItemState.PENDING]
_UNDOABLE = (BatchState.COMPLETED, BatchState.FAILED, BatchState.CANCELLED,
             BatchState.PARTIALLY_ROLLED_BACK)  # fmt: skip


def when(wall: float) -> str:
    """A wall-clock time for messages (local, to the second)."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(wall))


class Rollbacks:
    """The daemon's rollbacks, beside its batch engine."""

    def __init__(
        self,
        engine: BatchEngine,
        undo_root: Path,
        *,
        enabled: bool,
        keepalive: Callable[[], None] = lambda: None,
    ) -> None:
        self.keepalive = keepalive
        """Called while planning works through big batches (pings the service watchdog)."""
        self.engine = engine
        self.registry = engine.registry
        self.journal = engine.journal
        self.enabled = enabled
        self.fs = FileSystem()
        self.store = UndoStore(undo_root, self.fs)
        self.ledgers: dict[int, Ledger] = {}
        engine.ended_hooks.append(self.batch_ended)

    # -- start-up and bookkeeping ----------------------------------------------------------

    def restore(self) -> None:
        """After the engine restored its batches: load the ledgers of rollback batches and
        work out every batch's undone items and state."""
        for batch in self.registry:
            if batch.rollback_of:
                ledger = read_ledger(self.registry.directory(batch.id))
                if ledger is None:
                    log.error("rollback batch %d has no ledger", batch.id)
                    continue
                self.ledgers[batch.id] = ledger
                _load_expected(batch, ledger)
        for batch in sorted(self.registry, key=lambda b: b.id, reverse=True):
            self._refresh(batch)

    def batch_ended(self, batch: Batch) -> None:
        """A batch's end was journaled: a rollback's targets change state."""
        for target in batch.rollback_of:
            self._refresh_from(target)

    def _refresh_from(self, batch_id: int) -> None:
        try:
            batch = self.registry.get(batch_id)
        except Exception:
            return
        self._refresh(batch)
        for target in batch.rollback_of:
            self._refresh_from(target)

    def _refresh(self, batch: Batch) -> None:
        undone = bytearray(batch.total)
        rolling = False
        for other in self.registry:
            if batch.id not in other.rollback_of or other.id not in self.ledgers:
                continue
            rolling = rolling or other.ended is None
            undone_by(self.ledgers[other.id], other.item_states, other.undone, batch.id, undone)
        batch.undone = undone if 1 in undone else None
        if batch.ran_state is not None:
            batch.state = state_after_rollbacks(
                batch.ran_state, batch.item_states, batch.undone, rolling=rolling
            )

    # -- requests --------------------------------------------------------------------------

    def request(self, request: RollbackRequest, now: float, wall: float) -> RollbackReply:
        """Plan (and unless a dry run, start) a rollback; raises the protocol's errors."""
        if not self.enabled:
            raise RollbackUnavailable(
                "rollback is disabled (enable_rollback = false): batchd keeps no undo data"
            )
        ids = sorted(set(request.batches), reverse=True) or [self._newest_undoable()]
        batches = [self.registry.get(batch_id) for batch_id in ids]
        selection = Selection.parse(request.items, request.paths)
        for batch in batches:
            self._check_ready(batch, now, wall, dry_run=request.dry_run)
        targets = [self._target(batch) for batch in batches]
        self._check_blocking(batches, targets, selection)
        plan = plan_rollback(
            targets, selection, self.store, force=request.force, keepalive=self.keepalive
        )
        if plan.missing and not request.force:
            batch_id, line, reason = plan.missing[0]
            raise RollbackUnavailable(
                f"the undo data of {len(plan.missing)} item(s) is missing (batch {batch_id} "
                f"line {line}: {reason}); --force rolls back the others",
                {"batch": batch_id},
            )
        if request.dry_run:
            return self._preview(plan)
        if not plan.undos:
            return RollbackReply(None, (), 0, 0, (), tuple(plan.already))
        rollback = self._start(plan, request.force, now, wall)
        return RollbackReply(
            rollback.id, tuple(plan.batches), len(plan.undos), 0, (), tuple(plan.already)
        )

    def _newest_undoable(self) -> int:
        for batch in sorted(self.registry, key=lambda b: b.id, reverse=True):
            if batch.rollback_of or batch.purged_at is not None:
                continue
            if batch.ended is None or batch.state in _UNDOABLE:
                return batch.id
        raise InvalidArguments("there is no batch to undo")

    def _check_ready(self, batch: Batch, now: float, wall: float, *, dry_run: bool) -> None:
        if batch.purged_at is not None:
            raise RollbackUnavailable(
                f"the undo data of batch {batch.id} was purged at {when(batch.purged_at)}",
                {"batch": batch.id, "purged_at": batch.purged_at},
            )
        if batch.ended is None:
            if dry_run:
                raise InvalidArguments(
                    f"batch {batch.id} has not ended ({batch.state.value}): a dry run of its "
                    "rollback needs it to end first (batchctl cancel, or wait)"
                )
            if batch.state is not BatchState.CANCELLED:
                self.engine.cancel(batch, now)
                self.journal.append(BatchControl(batch.id, "cancel", wall))
                log.info("batch %d cancelled for its rollback", batch.id)
            raise BatchBusy(
                f"batch {batch.id} is stopping for its rollback ({batch.running} item(s) "
                "still running); ask again once it has ended",
                {"batch": batch.id, "running": batch.running},
            )
        for other in self.registry:
            if batch.id in other.rollback_of and other.ended is None:
                raise BatchBusy(
                    f"batch {batch.id} is being rolled back by batch {other.id}; ask again "
                    "once that has ended",
                    {"batch": other.id, "running": other.running},
                )

    def _target(self, batch: Batch) -> TargetBatch:
        try:
            post = self.registry.results(batch.id).post_states()
        except OSError as error:
            raise Unavailable(
                f"the results of batch {batch.id} cannot be written or read ({error}); "
                "free some space and ask again"
            ) from None
        return TargetBatch(batch.id, batch.steps, batch.item_states, batch.undone, post)

    def _check_blocking(
        self, batches: list[Batch], targets: list[TargetBatch], selection: Selection
    ) -> None:
        asked = {batch.id for batch in batches}
        for target in reversed(targets):  # oldest first
            items = completed_items(target, self.keepalive)
            mine = touched(step for step, _ in selected(items, selection))
            blocking = []
            for other in self.registry:
                if other.id <= target.id or other.id in asked or other.rollback_of:
                    continue
                if other.state is BatchState.ROLLED_BACK:
                    continue
                if overlaps(mine, touched(self._effective_steps(other))):
                    blocking.append(other.id)
            if blocking:
                newer = " ".join(str(b) for b in sorted(blocking, reverse=True))
                raise RollbackBlocked(
                    f"batch {target.id} cannot be rolled back alone: batch(es) {newer} changed "
                    f"the same paths since; roll them back first, or together: "
                    f"batchctl rollback {newer} {target.id}",
                    {"batch": target.id, "blocking": sorted(blocking, reverse=True)},
                )

    def _effective_steps(self, batch: Batch) -> list:  # type: ignore[type-arg]
        """Steps of ``batch`` whose effect is (or may soon be) in the tree."""
        if batch.ended is None:
            return batch.steps.read(0, batch.total)
        return [step for step, _ in completed_items(self._target_light(batch), self.keepalive)]

    def _target_light(self, batch: Batch) -> TargetBatch:
        return TargetBatch(batch.id, batch.steps, batch.item_states, batch.undone, {})

    def _preview(self, plan: RollbackPlan) -> RollbackReply:
        ordered = sorted(plan.undos, key=lambda undo: undo.level)
        reasons = preview_conflicts(ordered, self.fs, self.keepalive)
        actions = [
            RollbackAction(undo.origin[0], undo.step.line, undo.action, undo.step.path, reason)
            for undo, reason in zip(ordered, reasons, strict=True)
        ]
        conflicts = sum(1 for action in actions if action.conflict)
        shown = sorted(actions, key=lambda action: not action.conflict)[:PREVIEW_LIMIT]
        return RollbackReply(
            None, tuple(plan.batches), len(actions), conflicts, tuple(shown), tuple(plan.already)
        )

    def _start(self, plan: RollbackPlan, force: bool, now: float, wall: float) -> Batch:
        batch_id = self.registry.reserve_id()
        directory = self.registry.directory(batch_id)
        steps = [undo.step for undo in plan.undos]
        levels = [undo.level for undo in plan.undos]
        PlanStoreWriter(directory, batch=batch_id).write(steps, levels)
        order = execution_order(steps, levels)
        ledger = write_ledger(
            directory,
            plan.batches,
            [plan.undos[position].origin for position in order],
            [plan.undos[position].expected for position in order],
            plan.noops,
            force=force,
        )
        name = "rollback of " + ", ".join(str(b) for b in plan.batches)
        batch = Batch(batch_id, name, PlanStore.open(directory), submitted_at=wall, now=now)
        batch.rollback_of = tuple(plan.batches)
        _load_expected(batch, ledger)
        self.journal.append(
            BatchCreated(batch=batch_id, name=name, total=batch.total, priority=0, time=wall)
        )
        for target in plan.batches:
            self.journal.append(RollbackOf(batch_id, target, wall))
        batch.submitted_by = requesting_peer().describe()
        self.journal.append(BatchSubmittedBy(batch_id, batch.submitted_by))
        self.registry.add(batch)
        self.ledgers[batch_id] = ledger
        for target in plan.batches:
            self._refresh_from(target)
        log.info(
            "batch %d rolls back batch(es) %s: %d undo steps for %d items%s",
            batch_id,
            ", ".join(str(b) for b in plan.batches),
            len(steps),
            plan.items,
            " (forced)" if force else "",
            extra={"BATCH_ID": batch_id},
        )
        return batch


def _load_expected(batch: Batch, ledger: Ledger) -> None:
    """What each pending undo step's path must hold (kept by the ledger: a restart must not
    lose it); items the journal already gave a pre-state keep that."""
    for index, fingerprint in enumerate(ledger.expected):
        if fingerprint is None or index in batch.expected:
            continue
        if batch.item_states[index] == _PENDING:
            batch.expected[index] = fingerprint
