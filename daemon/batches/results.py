"""Per-batch log of item results, read back by ``show``.

Outcomes carry strings (checksum digests, errors, captured stderr) that must not live in the
daemon's memory for a million items, so each finished attempt is appended here as a msgpack
row ``[index, state, attempts, error, result, diagnostics, post, digest]`` (``post``: the
fingerprint row of what the step left at its target, or nil); the last row of an index wins.

Rollback plans its undo steps from the ``post`` and ``digest`` columns, so the rows must
outlive the journal segments that held their DONE records: the checkpointer ``sync``s every
log before it writes a checkpoint (after which those segments may go), and start-up appends
the rows of the DONE records replayed after the checkpoint again (:mod:`.refill`), because a
power loss may have dropped unsynced rows. Duplicates are harmless: the last row wins.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import msgpack

from batchd.daemon.ops.step import Fingerprint
from batchd.protocol.batch_messages import ItemState

log = logging.getLogger(__name__)

FLUSH_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True)
class ItemResult:
    """The last recorded attempt of one item."""

    index: int
    state: ItemState
    attempts: int
    error: str
    result: str
    diagnostics: str
    post: Fingerprint | None = None
    digest: bytes = b""


_Row = tuple[int, str, int, str, str, str, list[int] | None, bytes]


_LEGACY_FIELDS = 6


def _from_row(row: list[object]) -> ItemResult:
    if len(row) == _LEGACY_FIELDS:  # written before rows had post-states
        row = [*row, None, b""]
    index, state, attempts, error, result, diagnostics, post, digest = cast(_Row, row)
    fingerprint = None if post is None else Fingerprint.from_row(post)
    return ItemResult(
        index, ItemState(state), attempts, error, result, diagnostics, fingerprint, digest
    )


class ResultsLog:
    """Append-only result rows of one batch, buffered between loop turns."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        self._packer = msgpack.Packer(use_bin_type=True)
        self._buffer: list[bytes] = []
        self._buffered = 0
        self._failing = False

    def append(self, result: ItemResult) -> None:
        """Queue one row; written by ``flush`` (or when the buffer is large)."""
        row = [
            result.index,
            result.state.value,
            result.attempts,
            result.error,
            result.result,
            result.diagnostics,
            None if result.post is None else result.post.to_row(),
            result.digest,
        ]
        data = self._packer.pack(row)
        self._buffer.append(data)
        self._buffered += len(data)
        if self._buffered >= FLUSH_BYTES:
            self.flush()

    def flush(self, *, strict: bool = False) -> bool:
        """Write the queued rows with one write. A failed write (a full disk) is cut back to
        the last whole row and the rows stay queued for the next flush; returns False then,
        or raises the OSError with ``strict``."""
        if not self._buffer:
            return True
        data = b"".join(self._buffer)
        start = os.lseek(self._fd, 0, os.SEEK_END)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view) :]
        except OSError as error:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, start)
            if strict:
                raise
            if not self._failing:
                log.warning("writing %s failed, will retry: %s", self.path, error)
            self._failing = True
            return False
        self._buffer.clear()
        self._buffered = 0
        self._failing = False
        return True

    def lookup(self, indices: Collection[int]) -> dict[int, ItemResult]:
        """The latest result of each of ``indices`` that has one (scans the file)."""
        self.flush()
        wanted = set(indices)
        found: dict[int, ItemResult] = {}
        for row in self._rows():
            if row[0] in wanted:
                found[row[0]] = _from_row(row)
        return found

    def _rows(self) -> Iterator[list[Any]]:
        """The whole rows of the file; a damaged tail (a power cut in a write) ends it."""
        with self.path.open("rb") as file:
            unpacker = msgpack.Unpacker(file, raw=False, use_list=True)
            try:
                for row in unpacker:
                    if isinstance(row, list) and len(row) >= _LEGACY_FIELDS:
                        yield row
            except (ValueError, msgpack.UnpackException) as error:
                log.warning("%s ends with a damaged row (%s); later rows are ignored",
                            self.path, error)  # fmt: skip

    def post_states(self) -> dict[int, tuple[Fingerprint | None, bytes, str]]:
        """``index → (post, digest, result)`` of every item's latest completed row (scans
        the file)."""
        self.flush(strict=True)
        completed = ItemState.COMPLETED.value
        found: dict[int, tuple[Fingerprint | None, bytes, str]] = {}
        for row in self._rows():
            if row[1] != completed:
                found.pop(row[0], None)
                continue
            post = row[6] if len(row) > 6 else None
            digest = row[7] if len(row) > 7 else b""
            fingerprint = None if post is None else Fingerprint.from_row(post)
            found[row[0]] = (fingerprint, digest, row[4])
        return found

    def sync(self) -> None:
        """Flush and fsync: rows written so far survive a power loss (a closed log was
        synced when it was closed)."""
        if self._fd < 0:
            return
        self.flush()
        os.fsync(self._fd)

    def close(self) -> None:
        """Flush, fsync and close (idempotent)."""
        if self._fd < 0:
            return
        self.flush()
        os.fsync(self._fd)
        os.close(self._fd)
        self._fd = -1
