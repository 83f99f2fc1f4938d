"""``rollback.bin``: what a rollback batch's directory records beside its plan store.

A msgpack map ``{"format", "of", "force", "origins", "expected"}``: the batches it rolls back
(newest first), whether it was forced, and per step index of its plan store the forward item
it undoes (``origins``: flat ``[batch, index, batch, index, ...]``) and the fingerprint its
path must hold (``expected``: a fingerprint row or nil). Written (temp → fsync → rename →
fsync dir) before the batch's creation is journaled, so a restart finds it beside the plan.
"""

from __future__ import annotations

import os
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import msgpack

from batchd.daemon.batches.batch import CODES
from batchd.daemon.ops.step import Fingerprint
from batchd.protocol.batch_messages import ItemState

LEDGER: Final = "rollback.bin"
FORMAT: Final = 1
_COMPLETED: Final = CODES[ItemState.COMPLETED]


@dataclass(frozen=True, slots=True)
class Ledger:
    """A rollback batch's record of what each of its steps undoes."""

    of: tuple[int, ...]
    force: bool
    origins: array[int]
    expected: tuple[Fingerprint | None, ...]
    noops: array[int]
    """Flat (batch, index) pairs of selected items with nothing to undo."""

    def origin(self, index: int) -> tuple[int, int]:
        """(batch, index) of the forward item step ``index`` undoes."""
        return self.origins[2 * index], self.origins[2 * index + 1]


def write_ledger(
    directory: Path,
    of: Sequence[int],
    origins: Sequence[tuple[int, int]],
    expected: Sequence[Fingerprint | None],
    noops: Sequence[tuple[int, int]] = (),
    *,
    force: bool,
) -> Ledger:
    """Write ``rollback.bin`` durably into ``directory`` (which exists)."""
    flat, flat_noops = array("q"), array("q")
    for batch, index in origins:
        flat.append(batch)
        flat.append(index)
    for batch, index in noops:
        flat_noops.append(batch)
        flat_noops.append(index)
    body = msgpack.packb(
        {
            "format": FORMAT,
            "of": list(of),
            "force": force,
            "origins": list(flat),
            "expected": [None if fp is None else fp.to_row() for fp in expected],
            "noops": list(flat_noops),
        }
    )
    temp = directory / f".{LEDGER}.tmp"
    with temp.open("wb") as out:
        out.write(body)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temp, directory / LEDGER)
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return Ledger(tuple(of), force, flat, tuple(expected), flat_noops)


def read_ledger(directory: Path) -> Ledger | None:
    """The ledger in ``directory``, or None when it has none (a forward batch)."""
    try:
        raw = (directory / LEDGER).read_bytes()
    except FileNotFoundError:
        return None
    data = msgpack.unpackb(raw)
    if data.get("format") != FORMAT:
        raise ValueError(f"{directory / LEDGER} has format {data.get('format')!r}")
    expected = tuple(None if row is None else Fingerprint.from_row(row) for row in data["expected"])
    origins, noops = array("q", data["origins"]), array("q", data.get("noops", []))
    return Ledger(tuple(data["of"]), bool(data["force"]), origins, expected, noops)


def undone_by(
    ledger: Ledger, states: bytearray, undone: bytearray | None, target: int, into: bytearray
) -> None:
    """Mark in ``into`` (the target's undone flags) the items of ``target`` this rollback
    undid: every one of its undo steps completed, and none of them was itself undone since
    (``undone``: the rollback batch's own flags)."""
    verdict: dict[int, bool] = {}
    for index in range(len(states)):
        batch, item = ledger.origin(index)
        if batch != target:
            continue
        done = states[index] == _COMPLETED and (undone is None or not undone[index])
        verdict[item] = verdict.get(item, True) and done
    for item, done in verdict.items():
        if done:
            into[item] = 1
    if not any(verdict.values()):
        return  # nothing undone (all conflicts, or undone again since): noops neither
    for position in range(0, len(ledger.noops), 2):
        if ledger.noops[position] == target:
            into[ledger.noops[position + 1]] = 1
