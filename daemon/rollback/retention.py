"""Undo data on disk: how much a batch's store entries take, dropping them, and the
retention policy (age and size quota) that chooses which batches to drop.

A store entry made by hardlink shares its inode with a file the user still has, so only
inodes with one link count towards the store's size (journal.md, "Checkpoints, retention").
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

DAY = 86_400.0


def store_usage(directory: Path) -> int:
    """Bytes held only by the store under ``directory`` (files with a single link)."""
    total = 0
    for root, dirs, files in os.walk(directory):
        for name in (*files, *dirs):
            try:
                info = os.lstat(os.path.join(root, name))
            except FileNotFoundError:
                continue
            if stat.S_ISREG(info.st_mode) and info.st_nlink == 1:
                total += info.st_size
    return total


def drop_store(directory: Path) -> int:
    """Remove ``directory`` (a batch's undo store) and return the bytes that freed; a
    missing directory frees nothing (a purge replayed after a crash)."""
    if not directory.exists():
        return 0
    freed = store_usage(directory)
    shutil.rmtree(directory)
    parent = os.open(directory.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(parent)
    finally:
        os.close(parent)
    return freed


@dataclass(frozen=True, slots=True)
class StoredBatch:
    """An ended batch that still has undo data: when it ended and what its store holds."""

    batch: int
    ended_at: float
    usage: int


def choose_purges(
    batches: Sequence[StoredBatch], *, now: float, max_age_days: float, quota_bytes: int
) -> list[int]:
    """Batches to purge: every one older than ``max_age_days`` (0: no age limit), then the
    oldest until the rest fit in ``quota_bytes`` (0: no quota)."""
    chosen: list[int] = []
    kept: list[StoredBatch] = []
    for batch in sorted(batches, key=lambda b: (b.ended_at, b.batch)):
        if max_age_days > 0 and now - batch.ended_at > max_age_days * DAY:
            chosen.append(batch.batch)
        else:
            kept.append(batch)
    if quota_bytes > 0:
        used = sum(batch.usage for batch in kept)
        for batch in kept:
            if used <= quota_bytes:
                break
            chosen.append(batch.batch)
            used -= batch.usage
    return chosen
