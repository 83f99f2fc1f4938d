"""Requests and replies of undo: rollback (and ``batchctl undo``), history and purge.

A rollback is itself a batch: the daemon plans the undo steps of the batches asked for (newest
first), journals them like any plan, and runs them on the worker pool. Its id comes back in
:class:`RollbackReply`; follow it with ``progress``/``wait`` like any batch. Items whose files
were changed since the batch ran are *conflicts*: they fail with a reason and stay untouched
(``force`` keeps the current version in the undo store, then restores anyway).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True, slots=True)
class RollbackRequest:
    """Undo ``batches`` (newest first); empty ``batches``: the newest batch that can still be
    rolled back (``batchctl undo``). ``items`` selects plan lines (``"3,7-9"``, 1-based; empty:
    all); ``paths`` selects items by ``fnmatch`` patterns on their absolute paths, either
    side of a move or copy (``*`` also matches ``/``; empty: all). ``dry_run`` plans and
    checks without changing anything."""

    COMMAND: ClassVar[str] = "rollback"
    batches: tuple[int, ...] = ()
    items: str = ""
    paths: tuple[str, ...] = ()
    dry_run: bool = False
    force: bool = False


@dataclass(frozen=True, slots=True)
class RollbackAction:
    """One planned undo step: which batch and plan line it undoes, what it does (``op``:
    ``move back``, ``restore``, ``remove``, ``rmdir``) to which ``path``, and, when checked
    (a dry run), why it cannot go ahead (``conflict``; empty when it can)."""

    batch: int
    line: int
    op: str
    path: bytes
    conflict: str


@dataclass(frozen=True, slots=True)
class RollbackReply:
    """``rollback`` is the id of the batch that performs the undo (None for a dry run or when
    there is nothing to undo); ``batches`` the batches it undoes, newest first; ``actions``
    the number of undo steps; ``conflicts`` how many of them a dry run found blocked;
    ``preview`` (dry run) at most the first 1000 actions, conflicts first; ``already`` the
    batches asked for that were already rolled back (nothing left to undo)."""

    rollback: int | None
    batches: tuple[int, ...]
    actions: int
    conflicts: int
    preview: tuple[RollbackAction, ...]
    already: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class HistoryRequest:
    """The operation log: the newest ``limit`` events (of one batch when ``batch`` is set)."""

    COMMAND: ClassVar[str] = "history"
    limit: int = 100
    batch: int | None = None


@dataclass(frozen=True, slots=True)
class HistoryEvent:
    """One event: ``event`` is ``submitted``, ``ended``, ``rollback`` or ``purged``; ``time``
    wall-clock seconds; ``state`` the batch state it ended in (``ended``) else empty;
    ``detail`` a short text (the batch name, or which batches a rollback undoes)."""

    time: float
    event: str
    batch: int
    state: str
    detail: str


@dataclass(frozen=True, slots=True)
class HistoryReply:
    """Events oldest first."""

    events: tuple[HistoryEvent, ...]


@dataclass(frozen=True, slots=True)
class PurgeRequest:
    """Drop the undo data of ``batches``, or of every ended batch that finished more than
    ``older_than_days`` days ago. A purged batch can no longer be rolled back."""

    COMMAND: ClassVar[str] = "purge"
    batches: tuple[int, ...] = ()
    older_than_days: float | None = None


@dataclass(frozen=True, slots=True)
class PurgeReply:
    """The batches whose undo data was dropped and the bytes that freed."""

    purged: tuple[int, ...]
    freed_bytes: int
