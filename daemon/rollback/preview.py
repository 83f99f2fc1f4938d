"""A dry run's check of one planned undo step against the tree as it is now: the reason it
would be a conflict, or "" when it can go ahead. Read-only (lstat, and a digest of small
files). Steps are checked one by one, so a step that depends on an earlier undo step of the
same rollback (a rename chain's temporary name) is judged by the tree before that step."""

from __future__ import annotations

import os
import stat

from batchd.daemon.ops.content import content_digest
from batchd.daemon.ops.fs import FileSystem
from batchd.daemon.ops.runner import matches
from batchd.daemon.ops.step import Fingerprint, OpKind
from batchd.daemon.rollback.planner import PlannedUndo


def _fingerprint(path: bytes) -> Fingerprint | None:
    try:
        return Fingerprint.of(os.lstat(path))
    except FileNotFoundError:
        return None


def conflict(undo: PlannedUndo, fs: FileSystem) -> str:
    """Why ``undo`` would fail now ("" if it would not)."""
    step, expected = undo.step, undo.expected
    path = os.fsdecode(step.path)
    current = _fingerprint(step.path)
    if step.op is OpKind.RESTORE:
        entry = step.dest or b""
        if not os.path.lexists(entry):
            return f"the undo data is gone: {os.fsdecode(entry)}"
        if current is not None and not step.overwrite:
            return f"{path} was re-created since"
        target = step.path
    else:
        if current is None:
            return "" if step.op is OpKind.MKDIR else f"{path} is gone"
        if step.op is OpKind.MKDIR:
            return f"{path} exists"
        target = step.dest if step.op is OpKind.MOVE and step.dest is not None else step.path
        if step.op is OpKind.MOVE and os.path.lexists(target) and not step.overwrite:
            return f"{os.fsdecode(target)} was re-created since"
    if expected is not None and current is not None:
        if not matches(current, expected):
            return f"{path} was changed since"
        digest = step.digest
        if digest and stat.S_ISREG(current.mode) and content_digest(fs, step.path) != digest:
            return f"{path} was changed since (same size and times, different content)"
    if step.op is OpKind.RMDIR and current is not None and os.listdir(step.path):
        return f"{path} is not empty: something was added since"
    parent = os.path.dirname(target)
    if parent and not os.path.isdir(parent):
        return f"the directory {os.fsdecode(parent)} is gone"
    return ""
