"""The progress board: a few bytes of memory a worker shares with the pool.

Before each step the worker writes (chunk id, position in the chunk, start time); after it,
(chunk id, next position, no start time). Plain memory stores, no syscalls, so it costs
nothing per step; the memory outlives the worker, so after a crash or a kill the pool still
knows exactly which step was running, even when the outcomes of the steps before it were
still buffered in the dead worker. A sequence number (odd while writing) lets the pool reject
a read that raced with a write.

Times are ``time.monotonic()``: CLOCK_MONOTONIC is the same clock in every process.
"""

from __future__ import annotations

import mmap
import os
import struct
from dataclasses import dataclass
from typing import Final

_SEQ: Final = struct.Struct("=Q")
_FIELDS: Final = struct.Struct("=qqd")
SIZE: Final = _SEQ.size + _FIELDS.size
_READ_ATTEMPTS: Final = 8


@dataclass(frozen=True, slots=True)
class Progress:
    """What the board says: in chunk ``chunk_id`` the step at ``position`` started at
    ``started`` (monotonic), or, when ``started`` is None, every step before ``position`` has
    finished and the next has not started."""

    chunk_id: int
    position: int
    started: float | None


class ProgressBoard:
    """One worker's board, mapped from a memfd; the pool creates it, the worker writes it."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._map = mmap.mmap(fd, SIZE)
        self._seq = _SEQ.unpack_from(self._map, 0)[0]

    @classmethod
    def create(cls) -> ProgressBoard:
        """A fresh board in a new memfd (inheritable only through ``pass_fds``)."""
        fd = os.memfd_create("batchd-progress", os.MFD_CLOEXEC)
        os.ftruncate(fd, SIZE)
        board = cls(fd)
        board.publish(-1, 0, None)
        return board

    def publish(self, chunk_id: int, position: int, started: float | None) -> None:
        """Write one state (worker side)."""
        self._seq += 1
        _SEQ.pack_into(self._map, 0, self._seq)
        _FIELDS.pack_into(
            self._map, _SEQ.size, chunk_id, position, -1.0 if started is None else started
        )
        self._seq += 1
        _SEQ.pack_into(self._map, 0, self._seq)

    def read(self) -> Progress | None:
        """The last whole state written, or None when every attempt raced with a write."""
        for _ in range(_READ_ATTEMPTS):
            (before,) = _SEQ.unpack_from(self._map, 0)
            chunk_id, position, started = _FIELDS.unpack_from(self._map, _SEQ.size)
            (after,) = _SEQ.unpack_from(self._map, 0)
            if before == after and before % 2 == 0:
                return Progress(chunk_id, position, None if started < 0 else started)
        return None

    def close(self) -> None:
        """Unmap and close the memfd."""
        self._map.close()
        os.close(self.fd)
