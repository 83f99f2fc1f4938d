"""The undo steps of one completed forward step: what a rollback batch runs for it.

A rollback of batch X is itself a batch R of ordinary Steps: for each completed step of X,
newest first, :func:`inverse_steps` gives the steps that undo it, to run in the given order.
Each carries the fingerprint (``expected``) and content digest (``Step.digest``) that the
forward step left at its target, so that whatever changed since is a conflict, reported and
left untouched. Everything an undo step removes or replaces goes into R's own undo store
entries (delete and restore keep it there; a move with overwrite links it there), which is
what makes a rollback itself undoable: a rollback step inverts like any other.

Nothing here writes; it looks into the undo store (entries, a call's manifest) and, for a
call, at the paths its handler declared.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from batchd.daemon.ops.errors import show
from batchd.daemon.ops.mkdir import EXISTS
from batchd.daemon.ops.step import Fingerprint, OpKind, Step
from batchd.daemon.ops.undo import UndoStore

MOVE_BACK: Final = "move back"
RESTORE: Final = "restore"
REMOVE: Final = "remove"
RMDIR: Final = "rmdir"
MKDIR: Final = "mkdir"


@dataclass(frozen=True, slots=True)
class UndoStep:
    """One step of a rollback: ``step`` (index 0, the forward step's line; the caller numbers
    it), the fingerprint its path must hold (None: not checked) and a word for messages."""

    step: Step
    expected: Fingerprint | None
    action: str


class MissingUndoData(Exception):
    """The undo-store entry (or call manifest) a destructive forward step needs is absent:
    the batch ran with rollback off, or its undo data was purged."""

    def __init__(self, step: Step, entry: bytes) -> None:
        super().__init__(
            f"the undo data of line {step.line} ({step.op.name.lower()} {show(step.path)}) "
            f"is gone: {show(entry)}"
        )
        self.step = step
        self.entry = entry


def inverse_steps(
    step: Step,
    post: Fingerprint | None,
    digest: bytes,
    *,
    batch: int,
    store: UndoStore,
    force: bool,
    result: str = "",
) -> list[UndoStep]:
    """The steps that undo ``step`` of ``batch``, given what it left at its target (``post``,
    ``digest``: its Outcome's) and its ``result`` (a mkdir that found the directory already
    there is not undone). ``force``: check nothing (expected None, no digest) and replace
    what is in the way (overwrite on move and restore), keeping it in the rollback's store.
    Raises MissingUndoData when a delete, transform or call lacks its undo data."""
    build = _Builder(step, post, digest, force)
    entry = store.path_for(batch, step.index)
    kind = step.op
    if kind == OpKind.CHECKSUM:
        return []
    if kind in (OpKind.MOVE, OpKind.COPY):
        dest = _dest(step)
        if kind == OpKind.MOVE:
            undo = [build.at(dest, OpKind.MOVE, MOVE_BACK, dest=step.path, overwrite=False)]
        else:
            undo = [build.at(dest, OpKind.DELETE, REMOVE)]
        if step.overwrite and store.fs.exists(entry):  # the old dest was kept: put it back
            undo.append(build.plain(dest, OpKind.RESTORE, RESTORE, dest=entry))
        return undo
    if kind == OpKind.DELETE:
        _require(step, store, entry)
        return [build.plain(step.path, OpKind.RESTORE, RESTORE, dest=entry)]
    if kind == OpKind.TRANSFORM:
        _require(step, store, entry)
        return [build.at(step.path, OpKind.RESTORE, RESTORE, dest=entry, overwrite=True)]
    if kind == OpKind.MKDIR:
        return [] if result == EXISTS else [build.at(step.path, OpKind.RMDIR, RMDIR)]
    if kind == OpKind.RMDIR:
        return [build.plain(step.path, OpKind.MKDIR, MKDIR)]
    if kind == OpKind.RESTORE:
        if store.fs.exists(entry):  # what the restore displaced
            return [build.at(step.path, OpKind.RESTORE, RESTORE, dest=entry, overwrite=True)]
        return [build.at(step.path, OpKind.DELETE, REMOVE)]
    if kind == OpKind.CALL:
        return _call_steps(build, batch, store)
    raise ValueError(f"no inverse for op {kind!r}")


def _call_steps(build: _Builder, batch: int, store: UndoStore) -> list[UndoStep]:
    """Each declared path k: its kept original back (entry k), or removed when it did not
    exist before the call and does now. Only ``step.path`` itself is checked against the
    call's post-state; the other declared paths are restored (overwrite) or removed as they
    are, since the call recorded no post-state for them."""
    step = build.forward
    paths = store.read_manifest(batch, step.index)
    if paths is None:
        raise MissingUndoData(step, store.manifest_path(batch, step.index))
    undo: list[UndoStep] = []
    seen: set[bytes] = set()
    for part, path in enumerate(paths):
        if path in seen:
            continue
        seen.add(path)
        entry = store.path_for(batch, step.index, part)
        make = build.at if path == step.path else build.plain
        if store.fs.exists(entry):
            undo.append(make(path, OpKind.RESTORE, RESTORE, dest=entry, overwrite=True))
        elif store.fs.exists(path):
            undo.append(make(path, OpKind.DELETE, REMOVE))
    return undo


@dataclass(frozen=True, slots=True)
class _Builder:
    """Makes the undo steps of one forward step, applying ``force``."""

    forward: Step
    post: Fingerprint | None
    digest: bytes
    force: bool

    def at(
        self,
        path: bytes,
        op: OpKind,
        action: str,
        *,
        dest: bytes | None = None,
        overwrite: bool = False,
    ) -> UndoStep:
        """An undo step on the forward step's target: checked against its post-state."""
        return self._make(path, op, action, dest, overwrite, checked=True)

    def plain(
        self,
        path: bytes,
        op: OpKind,
        action: str,
        *,
        dest: bytes | None = None,
        overwrite: bool = False,
    ) -> UndoStep:
        """An undo step on another path: nothing to check (a restore without overwrite
        needs the path absent)."""
        return self._make(path, op, action, dest, overwrite, checked=False)

    def _make(
        self,
        path: bytes,
        op: OpKind,
        action: str,
        dest: bytes | None,
        overwrite: bool,
        *,
        checked: bool,
    ) -> UndoStep:
        expected, digest = (self.post, self.digest) if checked else (None, b"")
        if self.force:
            expected, digest = None, b""
            overwrite = overwrite or op in (OpKind.MOVE, OpKind.RESTORE)
        step = Step(0, self.forward.line, op, path, dest, overwrite, digest=digest)
        return UndoStep(step, expected, action)


def _dest(step: Step) -> bytes:
    if step.dest is None:
        raise ValueError(f"step {step.index} ({step.op.name.lower()}) has no destination")
    return step.dest


def _require(step: Step, store: UndoStore, entry: bytes) -> None:
    if not store.fs.exists(entry):
        raise MissingUndoData(step, entry)
