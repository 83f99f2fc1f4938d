"""Undo data on disk: usage, dropping a store, and the retention policy's choice."""

from __future__ import annotations

import os
from pathlib import Path

import hypothesis.strategies as st
from hypothesis import given

from batchd.daemon.rollback.retention import (
    DAY,
    StoredBatch,
    choose_purges,
    drop_store,
    store_usage,
)

NOW = 1_800_000_000.0


def _store(directory: Path) -> int:
    """A store with single-link files (counted), a hardlinked original, a symlink, a tree."""
    (directory / "7" / "sub").mkdir(parents=True)
    (directory / "0").write_bytes(b"x" * 1000)
    (directory / "7" / "a").write_bytes(b"y" * 300)
    (directory / "7" / "sub" / "b").write_bytes(b"z" * 20)
    (directory / "1").write_bytes(b"w" * 5000)
    os.link(directory / "1", directory.parent / "still-a-user-file")
    (directory / "7" / "link").symlink_to("a" * 200)
    (directory / "7" / "dirlink").symlink_to("sub")
    return 1000 + 300 + 20


def test_usage_counts_only_single_link_regular_files(tmp_path: Path) -> None:
    store = tmp_path / "undo" / "3"
    store.mkdir(parents=True)
    expected = _store(store)
    assert store_usage(store) == expected


def test_usage_of_a_missing_or_empty_store_is_zero(tmp_path: Path) -> None:
    assert store_usage(tmp_path / "nothing") == 0
    assert store_usage(tmp_path) == 0


def test_drop_store_removes_the_store_and_returns_what_it_freed(tmp_path: Path) -> None:
    store = tmp_path / "undo" / "3"
    store.mkdir(parents=True)
    (tmp_path / "undo" / "4").mkdir()
    expected = _store(store)
    assert drop_store(store) == expected
    assert not store.exists()
    assert (tmp_path / "undo" / "4").is_dir()
    assert (tmp_path / "undo" / "still-a-user-file").read_bytes() == b"w" * 5000


def test_dropping_a_missing_store_frees_nothing(tmp_path: Path) -> None:
    assert drop_store(tmp_path / "undo" / "3") == 0
    assert drop_store(tmp_path / "absent" / "3") == 0


def _stored(batch: int, days_ago: float, usage: int = 0) -> StoredBatch:
    return StoredBatch(batch, NOW - days_ago * DAY, usage)


def test_no_policy_purges_nothing() -> None:
    batches = [_stored(1, 400, 10**9), _stored(2, 1, 10**9)]
    assert choose_purges(batches, now=NOW, max_age_days=0, quota_bytes=0) == []


def test_age_purges_every_batch_older_than_the_limit() -> None:
    batches = [_stored(3, 31), _stored(1, 45), _stored(2, 29.9), _stored(4, 30)]
    assert choose_purges(batches, now=NOW, max_age_days=30, quota_bytes=0) == [1, 3]


def test_quota_purges_the_oldest_until_the_rest_fit() -> None:
    batches = [_stored(1, 3, 40), _stored(2, 5, 50), _stored(3, 1, 30), _stored(4, 2, 0)]
    assert choose_purges(batches, now=NOW, max_age_days=0, quota_bytes=200) == []
    assert choose_purges(batches, now=NOW, max_age_days=0, quota_bytes=100) == [2]
    assert choose_purges(batches, now=NOW, max_age_days=0, quota_bytes=69) == [2, 1]
    assert choose_purges(batches, now=NOW, max_age_days=0, quota_bytes=29) == [2, 1, 4, 3]


def test_age_then_quota_over_what_is_left() -> None:
    batches = [_stored(1, 60, 500), _stored(2, 10, 80), _stored(3, 5, 30), _stored(4, 2, 30)]
    assert choose_purges(batches, now=NOW, max_age_days=30, quota_bytes=100) == [1, 2]


def test_ties_in_age_go_by_id() -> None:
    batches = [_stored(9, 2, 10), _stored(5, 2, 10), _stored(7, 2, 10)]
    assert choose_purges(batches, now=NOW, max_age_days=0, quota_bytes=15) == [5, 7]


_batch_lists = st.lists(
    st.tuples(st.floats(0, 100, allow_nan=False), st.integers(0, 1000)), max_size=12
).map(lambda rows: [_stored(i + 1, age, usage) for i, (age, usage) in enumerate(rows)])


@given(_batch_lists, st.sampled_from([0, 1, 7, 30]), st.integers(0, 3000))
def test_choose_purges_invariants(batches: list[StoredBatch], days: int, quota: int) -> None:
    chosen = choose_purges(batches, now=NOW, max_age_days=days, quota_bytes=quota)
    by_id = {b.batch: b for b in batches}
    assert len(chosen) == len(set(chosen)) and set(chosen) <= set(by_id)
    if not days and not quota:
        assert chosen == []
    too_old = {b.batch for b in batches if days and NOW - b.ended_at > days * DAY}
    kept = [b for b in batches if b.batch not in chosen]
    for_quota = [by_id[i] for i in chosen if i not in too_old]
    # every batch over the age limit goes, and goes first, oldest first
    assert chosen[: len(too_old)] == sorted(too_old, key=lambda i: (by_id[i].ended_at, i))
    # then the quota: oldest first, the rest fits, and no more than needed went
    assert for_quota == sorted(for_quota, key=lambda b: (b.ended_at, b.batch))
    if not quota:
        assert for_quota == []
    else:
        assert sum(b.usage for b in kept) <= quota
        if for_quota:
            assert sum(b.usage for b in kept) + for_quota[-1].usage > quota
        if kept and for_quota:
            newest_purged = max((b.ended_at, b.batch) for b in for_quota)
            assert newest_purged < min((b.ended_at, b.batch) for b in kept)
