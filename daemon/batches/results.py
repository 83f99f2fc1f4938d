"""Per-batch log of item results, read back by ``show``.

Outcomes carry strings (checksum digests, errors, captured stderr) that must not live in the
daemon's memory for a million items, so each finished attempt is appended here as a msgpack
row ``[index, state, attempts, error, result, diagnostics]``; the last row of an index wins.
The file is a convenience for ``show``, not a source of truth: the journal is.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import msgpack

from batchd.protocol.batch_messages import ItemState

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


class ResultsLog:
    """Append-only result rows of one batch, buffered between loop turns."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        self._packer = msgpack.Packer(use_bin_type=True)
        self._buffer: list[bytes] = []
        self._buffered = 0

    def append(self, result: ItemResult) -> None:
        """Queue one row; written by ``flush`` (or when the buffer is large)."""
        row = [
            result.index,
            result.state.value,
            result.attempts,
            result.error,
            result.result,
            result.diagnostics,
        ]
        data = self._packer.pack(row)
        self._buffer.append(data)
        self._buffered += len(data)
        if self._buffered >= FLUSH_BYTES:
            self.flush()

    def flush(self) -> None:
        """Write the queued rows with one write."""
        if self._buffer:
            data = b"".join(self._buffer)
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view) :]
            self._buffer.clear()
            self._buffered = 0

    def lookup(self, indices: Collection[int]) -> dict[int, ItemResult]:
        """The latest result of each of ``indices`` that has one (scans the file)."""
        self.flush()
        wanted = set(indices)
        found: dict[int, ItemResult] = {}
        with self.path.open("rb") as file:
            for row in msgpack.Unpacker(file, raw=False, use_list=True):
                index, state, attempts, error, result, diagnostics = cast(
                    tuple[int, str, int, str, str, str], row
                )
                if index in wanted:
                    found[index] = ItemResult(
                        index, ItemState(state), attempts, error, result, diagnostics
                    )
        return found

    def close(self) -> None:
        """Flush and close."""
        self.flush()
        os.close(self._fd)
