"""A dry run's check of a rollback's undo steps against the tree as it is now, in the order
they would run: each step is judged by the tree as the steps before it would leave it (a
rename chain's undo moves a file onto a name an earlier undo step just freed; a directory
is empty once earlier steps moved its files out). Returns, per step, the reason it would be a
conflict, or "" when it can go ahead. Read-only: lstat, listdir, and a digest of small files.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable

from batchd.daemon.ops.content import content_digest
from batchd.daemon.ops.fs import FileSystem
from batchd.daemon.ops.runner import matches
from batchd.daemon.ops.step import Fingerprint, OpKind, Step
from batchd.daemon.rollback.planner import PlannedUndo


class _Overlay:
    """The tree after the undo steps judged so far: paths they removed or created."""

    def __init__(self) -> None:
        self.gone: set[bytes] = set()
        self.made: set[bytes] = set()

    def made_here(self, path: bytes) -> bool:
        return path in self.made

    def exists(self, path: bytes) -> bool:
        if path in self.made:
            return True
        if path in self.gone or any(parent in self.gone for parent in _parents(path)):
            return False
        return os.path.lexists(path)

    def is_dir(self, path: bytes) -> bool:
        return path in self.made or (self.exists(path) and os.path.isdir(path))

    def names(self, directory: bytes) -> set[bytes]:
        names = set(os.listdir(directory)) if os.path.isdir(directory) else set()
        names -= {os.path.basename(p) for p in self.gone if os.path.dirname(p) == directory}
        names |= {os.path.basename(p) for p in self.made if os.path.dirname(p) == directory}
        return names

    def remove(self, path: bytes) -> None:
        self.made.discard(path)
        self.gone.add(path)

    def create(self, path: bytes) -> None:
        self.gone.discard(path)
        self.made.add(path)


def _parents(path: bytes) -> Iterable[bytes]:
    parent = os.path.dirname(path)
    while parent and parent != path:
        yield parent
        path, parent = parent, os.path.dirname(parent)


def _fingerprint(path: bytes) -> Fingerprint | None:
    try:
        return Fingerprint.of(os.lstat(path))
    except FileNotFoundError:
        return None


def conflicts(
    undos: list[PlannedUndo], fs: FileSystem, keepalive: Callable[[], None] = lambda: None
) -> list[str]:
    """The reason each of ``undos`` (in the order they run) would fail ("" if it would not);
    ``keepalive`` is called every few thousand steps (the daemon's watchdog)."""
    overlay = _Overlay()
    reasons = []
    for number, undo in enumerate(undos):
        if number % 4096 == 0:
            keepalive()
        reason = _check(undo, overlay, fs)
        if not reason:
            _apply(undo.step, overlay)
        reasons.append(reason)
    return reasons


def _check(undo: PlannedUndo, overlay: _Overlay, fs: FileSystem) -> str:
    step, path = undo.step, undo.step.path
    shown = os.fsdecode(path)
    if step.op is OpKind.RESTORE:
        entry = step.dest or b""
        if not os.path.lexists(entry):
            return f"the undo data is gone: {os.fsdecode(entry)}"
        if overlay.exists(path) and not step.overwrite:
            return f"{shown} was re-created since"
        target = path
    elif step.op is OpKind.MKDIR:
        return f"{shown} exists" if overlay.exists(path) else ""
    else:
        if not overlay.exists(path):
            return f"{shown} is gone"
        target = step.dest if step.op is OpKind.MOVE and step.dest is not None else path
        if step.op is OpKind.MOVE and overlay.exists(target) and not step.overwrite:
            return f"{os.fsdecode(target)} was re-created since"
    reason = "" if overlay.made_here(path) else _changed(undo, fs)
    if reason:
        return reason
    if step.op is OpKind.RMDIR and overlay.names(path):
        return f"{shown} is not empty: something was added since"
    parent = os.path.dirname(target)
    if parent and not overlay.is_dir(parent):
        return f"the directory {os.fsdecode(parent)} is gone"
    return ""


def _changed(undo: PlannedUndo, fs: FileSystem) -> str:
    """Whether the path differs from what the batch left there."""
    step, expected = undo.step, undo.expected
    current = _fingerprint(step.path)
    if expected is None or current is None:
        return ""
    shown = os.fsdecode(step.path)
    if not matches(current, expected):
        return f"{shown} was changed since"
    digest = step.digest
    if digest and stat.S_ISREG(current.mode) and content_digest(fs, step.path) != digest:
        return f"{shown} was changed since (same size and times, different content)"
    return ""


def _apply(step: Step, overlay: _Overlay) -> None:
    """What the step does to the tree, once judged to go ahead."""
    if step.op is OpKind.MOVE and step.dest is not None:
        overlay.remove(step.path)
        overlay.create(step.dest)
    elif step.op in (OpKind.RESTORE, OpKind.MKDIR):
        overlay.create(step.path)
    elif step.op in (OpKind.DELETE, OpKind.RMDIR):
        overlay.remove(step.path)
