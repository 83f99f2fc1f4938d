"""Fair sharing and chunk sizing (pure)."""

from __future__ import annotations

from collections import Counter

from batchd.daemon.batches.scheduling import (
    CHUNK_SECONDS,
    FIRST_CHUNK,
    MAX_CHUNK,
    Candidate,
    chunk_size,
    next_batch,
)


def _serve(priorities: dict[int, int], rounds: int) -> Counter[int]:
    served: Counter[int] = Counter()
    for _ in range(rounds):
        candidates = [Candidate(b, p, served[b], True) for b, p in priorities.items()]
        chosen = next_batch(candidates)
        assert chosen is not None
        served[chosen] += 1
    return served


def test_equal_priorities_share_equally() -> None:
    served = _serve({1: 0, 2: 0, 3: 0}, 300)
    assert set(served.values()) == {100}


def test_higher_priority_gets_a_bigger_share_without_starving_the_rest() -> None:
    served = _serve({1: 0, 2: 1}, 300)
    assert served[2] == 200 and served[1] == 100


def test_batches_without_work_are_skipped() -> None:
    assert next_batch([Candidate(1, 5, 0, False), Candidate(2, 0, 99, True)]) == 2
    assert next_batch([Candidate(1, 0, 0, False)]) is None


def test_chunk_size_spreads_small_levels_and_caps_big_ones() -> None:
    assert chunk_size(1, 2) == 1
    assert chunk_size(10, 2) == 2
    assert chunk_size(1_000_000, 2) == FIRST_CHUNK  # rate unknown yet
    assert chunk_size(1_000_000, 2, rate=1e6) == MAX_CHUNK


def test_chunk_size_follows_the_rate() -> None:
    # ~CHUNK_SECONDS of work per worker: cheap renames go in big chunks, slow items alone.
    assert chunk_size(1_000_000, 2, rate=1_000) == int(1_000 * CHUNK_SECONDS / 2)
    assert chunk_size(1_000_000, 2, rate=5.0) == 1
    assert chunk_size(1_000_000, 1, rate=400) == int(400 * CHUNK_SECONDS)
    assert chunk_size(1_000_000, 2, rate=20_000) == MAX_CHUNK
