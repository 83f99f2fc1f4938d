"""Cross-batch dependencies: which newer batches changed paths a rollback would restore.

Two paths overlap when they are equal or one lies inside the other (a newer batch that moved
a directory blocks the rollback of an older batch that created a file in it). Pure.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from batchd.daemon.ops.step import OpKind, Step


def touched(steps: Iterable[Step]) -> set[bytes]:
    """Every path ``steps`` change or read to change: the path, and a move/copy's dest."""
    paths: set[bytes] = set()
    for step in steps:
        if step.op is OpKind.CHECKSUM:
            continue
        paths.add(step.path)
        if step.dest is not None and step.op in (OpKind.MOVE, OpKind.COPY):
            paths.add(step.dest)
    return paths


def _ancestors(path: bytes) -> Iterable[bytes]:
    parent = os.path.dirname(path)
    while parent and parent != path:
        yield parent
        path, parent = parent, os.path.dirname(parent)


def overlaps(mine: set[bytes], theirs: set[bytes]) -> bool:
    """True when some path of ``mine`` equals, contains or lies in some path of ``theirs``."""
    if not mine or not theirs:
        return False
    if not mine.isdisjoint(theirs):
        return True
    around_theirs = {parent for path in theirs for parent in _ancestors(path)}
    return any(
        path in around_theirs or any(parent in theirs for parent in _ancestors(path))
        for path in mine
    )
