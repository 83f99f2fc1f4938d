"""Purges with a real journal, a real registry and real undo stores in tmp_path."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from step_lists import ListSteps

from batchd.daemon.batches.batch import Batch
from batchd.daemon.batches.registry import BatchRegistry
from batchd.daemon.journal import Journal
from batchd.daemon.journal.records import BatchPurged, JournalRecord
from batchd.daemon.rollback.purging import RETENTION_INTERVAL, Purger
from batchd.daemon.rollback.retention import DAY
from batchd.protocol.batch_messages import BatchState
from batchd.protocol.errors import BatchBusy, BatchNotFound, InvalidArguments
from batchd.protocol.rollback_messages import PurgeReply, PurgeRequest

WALL = 1_800_000_000.0


@dataclass
class World:
    """A registry, a journal and an undo root under tmp_path."""

    root: Path
    registry: BatchRegistry
    journal: Journal

    @property
    def undo(self) -> Path:
        return self.root / "undo"

    def purger(self, *, max_age_days: float = 0.0, quota_bytes: int = 0) -> Purger:
        return Purger(
            self.registry,
            self.journal,
            self.undo,
            max_age_days=max_age_days,
            quota_bytes=quota_bytes,
        )

    def batch(self, batch_id: int, *, ended_days_ago: float | None = 1.0, size: int = 0) -> Batch:
        """A batch whose store holds ``size`` bytes (plus a hardlinked original); it ended
        ``ended_days_ago`` (None: still running)."""
        (self.registry.batches_dir / str(batch_id)).mkdir(parents=True)
        levels = [] if ended_days_ago is not None else [1]
        batch = Batch(batch_id, f"b{batch_id}", ListSteps(levels), submitted_at=WALL, now=0.0)
        if ended_days_ago is not None:
            assert batch.ended is not None
            batch.ran_state = batch.state
            batch.ended_wall = WALL - ended_days_ago * DAY
        self.registry.add(batch)
        store = self.undo / str(batch_id)
        store.mkdir(parents=True)
        (store / "0").write_bytes(b"k" * size)
        (store / "1").write_bytes(b"linked" * 100)
        os.link(store / "1", self.root / f"user-file-{batch_id}")
        return batch

    def records(self) -> list[JournalRecord]:
        """Every record journaled so far (closes the journal and reads it back)."""
        self.journal.close()
        journal, records = Journal.open(self.root / "journal", list)
        journal.close()
        return records


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    (tmp_path / "batches").mkdir()
    journal, _ = Journal.open(tmp_path / "journal", list)
    registry = BatchRegistry(tmp_path / "batches")
    yield World(tmp_path, registry, journal)
    journal.close()
    registry.close()


def test_purge_by_ids_journals_and_removes_the_stores(world: World) -> None:
    one, two = world.batch(1, size=1000), world.batch(2, size=10)
    world.batch(3, size=5)
    reply = world.purger().request(PurgeRequest(batches=(2, 1, 2)), WALL)
    assert reply == PurgeReply((1, 2), 1010)
    assert not (world.undo / "1").exists() and not (world.undo / "2").exists()
    assert (world.undo / "3").is_dir()
    assert (world.root / "user-file-1").read_bytes() == b"linked" * 100
    assert one.purged_at == two.purged_at == WALL
    assert world.records() == [BatchPurged(1, WALL), BatchPurged(2, WALL)]


def test_purging_again_purges_nothing(world: World) -> None:
    world.batch(1, size=10)
    purger = world.purger()
    purger.request(PurgeRequest(batches=(1,)), WALL)
    assert purger.request(PurgeRequest(batches=(1,)), WALL + 5) == PurgeReply((), 0)
    assert world.records() == [BatchPurged(1, WALL)]


def test_a_batch_without_a_store_is_purged_for_nothing(world: World) -> None:
    batch = world.batch(1, size=10)
    os.unlink(world.undo / "1" / "0")
    os.unlink(world.undo / "1" / "1")
    os.rmdir(world.undo / "1")
    assert world.purger().request(PurgeRequest(batches=(1,)), WALL) == PurgeReply((1,), 0)
    assert batch.purged_at == WALL


def test_older_than_days_purges_the_ended_batches_that_old(world: World) -> None:
    world.batch(1, ended_days_ago=40, size=100)
    world.batch(2, ended_days_ago=10, size=20)
    world.batch(3, ended_days_ago=31, size=3)
    world.batch(4, ended_days_ago=None, size=7)
    reply = world.purger().request(PurgeRequest(older_than_days=30), WALL)
    assert reply == PurgeReply((1, 3), 103)
    assert sorted(p.name for p in world.undo.iterdir()) == ["2", "4"]


def test_older_than_zero_days_purges_every_ended_batch(world: World) -> None:
    world.batch(1, ended_days_ago=0.001)
    world.batch(2, ended_days_ago=None)
    assert world.purger().request(PurgeRequest(older_than_days=0), WALL).purged == (1,)


def test_a_running_batch_is_refused_and_nothing_is_purged(world: World) -> None:
    world.batch(1, size=10)
    world.batch(2, ended_days_ago=None)
    with pytest.raises(BatchBusy, match="batch 2 has not ended") as caught:
        world.purger().request(PurgeRequest(batches=(1, 2)), WALL)
    assert caught.value.details["batch"] == 2
    assert (world.undo / "1").is_dir() and (world.undo / "2").is_dir()
    assert world.records() == []


def test_a_batch_being_rolled_back_is_refused(world: World) -> None:
    world.batch(1, size=10)
    rollback = world.batch(2, ended_days_ago=None)
    rollback.rollback_of = (1,)
    with pytest.raises(BatchBusy, match="being rolled back by batch 2"):
        world.purger().request(PurgeRequest(batches=(1,)), WALL)
    assert world.purger().request(PurgeRequest(older_than_days=0), WALL).purged == ()


def test_an_unknown_batch_is_not_found(world: World) -> None:
    with pytest.raises(BatchNotFound):
        world.purger().request(PurgeRequest(batches=(9,)), WALL)


@pytest.mark.parametrize(
    ("request_", "words"),
    [
        (PurgeRequest(batches=(1,), older_than_days=3), "not both"),
        (PurgeRequest(), "name the batches"),
        (PurgeRequest(older_than_days=-1), "must not be negative"),
    ],
)
def test_bad_arguments_are_refused(world: World, request_: PurgeRequest, words: str) -> None:
    world.batch(1, size=10)
    with pytest.raises(InvalidArguments, match=words):
        world.purger().request(request_, WALL)
    assert (world.undo / "1").is_dir()


def test_restore_removes_a_store_a_journaled_purge_left_behind(world: World) -> None:
    purged, kept = world.batch(1, size=10), world.batch(2, size=10)
    purged.purged_at = WALL  # as the journal says after a crash before the removal
    world.purger().restore()
    assert not (world.undo / "1").exists()
    assert (world.undo / "2").is_dir() and kept.purged_at is None
    world.purger().restore()  # nothing left to do: harmless
    assert world.records() == []


def test_retention_by_age_honours_the_interval(world: World) -> None:
    world.batch(1, ended_days_ago=40, size=100)
    world.batch(2, ended_days_ago=2, size=100)
    world.batch(3, ended_days_ago=None, size=100)
    purger = world.purger(max_age_days=30)
    assert purger.apply_retention(5.0, WALL) == [1]
    assert not (world.undo / "1").exists()
    world.batch(4, ended_days_ago=90)
    assert purger.apply_retention(5.0 + RETENTION_INTERVAL - 1, WALL) == []
    assert (world.undo / "4").is_dir()
    assert purger.apply_retention(5.0 + RETENTION_INTERVAL, WALL) == [4]
    assert sorted(p.name for p in world.undo.iterdir()) == ["2", "3"]
    assert world.records() == [BatchPurged(1, WALL), BatchPurged(4, WALL)]


def test_retention_by_quota_purges_the_oldest_until_the_rest_fits(world: World) -> None:
    world.batch(1, ended_days_ago=3, size=400)
    world.batch(2, ended_days_ago=5, size=300)
    world.batch(3, ended_days_ago=1, size=200)
    world.batch(4, ended_days_ago=None, size=5000)  # running: never purged, never counted
    purger = world.purger(quota_bytes=500)
    assert purger.apply_retention(0.0, WALL) == [2, 1]
    assert sorted(p.name for p in world.undo.iterdir()) == ["3", "4"]


def test_no_policy_purges_nothing(world: World) -> None:
    world.batch(1, ended_days_ago=4000, size=10**6)
    assert world.purger().apply_retention(0.0, WALL) == []
    assert (world.undo / "1").is_dir()


def test_the_purge_record_is_durable_before_the_store_goes(world: World) -> None:
    batch = world.batch(1, size=10)
    world.purger().purge(batch, WALL)
    assert not (world.undo / "1").exists()
    assert world.journal.pending == 0


def test_a_purged_batch_keeps_its_state(world: World) -> None:
    batch = world.batch(1, size=10)
    world.purger().request(PurgeRequest(batches=(1,)), WALL)
    assert batch.state is BatchState.COMPLETED and batch.ended is not None
