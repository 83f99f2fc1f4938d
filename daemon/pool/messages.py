"""The messages between the pool and a worker, as compact msgpack arrays in frames.

Pool to worker: ``[CHUNK, chunk_id, batch, item_timeout, [step rows], [fingerprint rows or
None]]``, ``[CANCEL, chunk_id]`` (stop before the next step), ``[EXIT]`` (stop before the next
step, then exit). Worker to pool: ``[HELLO, pid]`` once ready, ``[OUTCOMES, chunk_id,
[outcome rows]]`` in step order, ``[DONE, chunk_id, stopped_at]`` when the worker is done with
the chunk (``stopped_at`` < length after a cancel or exit: those steps never started).

Both ends are ours and ship together, so there is no version negotiation; a malformed message
from a worker is treated like a corrupt frame (the worker is killed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from batchd.daemon.ops.step import Fingerprint, Outcome, Step
from batchd.daemon.pool.executor import Chunk
from batchd.daemon.pool.framing import FrameError

CHUNK: Final = 1
CANCEL: Final = 2
EXIT: Final = 3
HELLO: Final = 10
OUTCOMES: Final = 11
DONE: Final = 12


def chunk_message(chunk: Chunk) -> list[object]:
    """The CHUNK message for ``chunk``."""
    return [
        CHUNK,
        chunk.chunk_id,
        chunk.batch,
        chunk.item_timeout,
        [step.to_row() for step in chunk.steps],
        [None if fp is None else fp.to_row() for fp in chunk.expected],
    ]


def chunk_from_message(message: list[object]) -> Chunk:
    """Inverse of ``chunk_message`` (worker side; the pool is trusted)."""
    _, chunk_id, batch, item_timeout, rows, expected = message
    assert isinstance(rows, list) and isinstance(expected, list)
    return Chunk(
        int(chunk_id),  # type: ignore[call-overload]
        int(batch),  # type: ignore[call-overload]
        tuple(Step.from_row(row) for row in rows),
        tuple(None if fp is None else Fingerprint.from_row(fp) for fp in expected),
        float(item_timeout),  # type: ignore[arg-type]
    )


@dataclass(frozen=True, slots=True)
class Hello:
    """The worker has imported everything and waits for work."""

    pid: int


@dataclass(frozen=True, slots=True)
class Outcomes:
    """Outcomes of the next steps of chunk ``chunk_id``, in step order."""

    chunk_id: int
    outcomes: tuple[Outcome, ...]


@dataclass(frozen=True, slots=True)
class Done:
    """The worker is done with chunk ``chunk_id``; steps from ``stopped_at`` on never started."""

    chunk_id: int
    stopped_at: int


WorkerMessage = Hello | Outcomes | Done


def parse_worker_message(message: object) -> WorkerMessage:
    """Check and convert a message from a worker; raises FrameError when malformed."""
    try:
        if not isinstance(message, list) or not message:
            raise TypeError("not a non-empty array")
        code = message[0]
        if code == HELLO and len(message) == 2 and isinstance(message[1], int):
            return Hello(message[1])
        if code == OUTCOMES and len(message) == 3 and isinstance(message[2], list):
            outcomes = tuple(Outcome.from_row(row) for row in message[2])
            if not all(isinstance(o.index, int) and isinstance(o.error, str) for o in outcomes):
                raise TypeError("bad outcome fields")
            return Outcomes(_int(message[1]), outcomes)
        if code == DONE and len(message) == 3:
            return Done(_int(message[1]), _int(message[2]))
        raise TypeError(f"unknown message {str(message)[:80]}")
    except (TypeError, ValueError) as error:
        raise FrameError(f"malformed message from worker: {error}") from error


def _int(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"expected an integer, got {value!r}")
    return value
