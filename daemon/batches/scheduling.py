"""Which batch gets the next free worker, and how many items go in one chunk. Pure.

Fair sharing by stride scheduling: each batch has a weight of ``2 ** priority`` and has been
served some number of items; the batch with work whose served/weight is lowest goes next. So
two batches of equal priority alternate, and a batch of priority 1 gets twice the share of one
of priority 0, without starving it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

FIRST_CHUNK = 64
"""Items per chunk while a batch's rate is not known yet."""
MAX_CHUNK = 256
"""Items per chunk at most: big enough to amortise a message, a group commit and the shared
directory fsyncs of cheap items (a rename costs ~20 µs), small enough to share."""
CHUNK_SECONDS = 0.25
"""What one chunk should take on one worker once the batch's rate is known, so that a chunk
of slow items (transforms, handlers) does not hold a worker another batch is due for long.
Not much shorter: every chunk costs a group commit of its intents, and at 50 ms per chunk
those commits made the daemon's request tail four times longer (measured: progress p99
0.8 -> 3 ms with both workers hashing; why exactly is not pinned down)."""


@dataclass(frozen=True, slots=True)
class Candidate:
    """A batch as the scheduler sees it."""

    batch: int
    priority: int
    served: int
    has_work: bool


def next_batch(candidates: Sequence[Candidate]) -> int | None:
    """The id of the batch to serve next, or None when no batch has work."""
    best: tuple[float, int] | None = None
    chosen: int | None = None
    for candidate in candidates:
        if not candidate.has_work:
            continue
        key = (candidate.served / 2.0 ** max(-10, min(10, candidate.priority)), candidate.batch)
        if best is None or key < best:
            best, chosen = key, candidate.batch
    return chosen


def chunk_size(pending: int, workers: int, rate: float = 0.0) -> int:
    """Items for the next chunk: about CHUNK_SECONDS of work for one worker at the batch's
    ``rate`` (items/s over all ``workers``; 0 when unknown: FIRST_CHUNK), never more than
    MAX_CHUNK, and small enough to spread a level over all workers (two chunks each)."""
    workers = max(1, workers)
    by_time = FIRST_CHUNK if rate <= 0.0 else int(rate * CHUNK_SECONDS / workers)
    return max(1, min(MAX_CHUNK, by_time, pending // (2 * workers)))
