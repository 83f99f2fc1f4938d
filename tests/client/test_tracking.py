"""Following batches: the WatchSet's decisions (pure), and wait/watch against a fake daemon
with events, without events (polling only), and with a deadline."""

from __future__ import annotations

import time

import pytest
from fake_router import FakeBatchd, FakePublisher, FakeRouter, ProgressScript, progress_of

from batchd.client import Client, WaitTimeout
from batchd.client.tracking import WatchSet
from batchd.protocol.batch_messages import BatchProgress, BatchState
from batchd.protocol.errors import BatchNotFound
from batchd.protocol.events import BatchProgressEvent

RUNNING = BatchState.RUNNING
COMPLETED = BatchState.COMPLETED


def test_watch_set_reports_changes_once_and_ends_when_all_ended() -> None:
    watch = WatchSet(everything=False, wanted={1, 2})
    assert watch.unknown() == [1, 2]
    assert watch.update(progress_of(1, RUNNING, 10, 3), now=0.0)
    assert not watch.update(progress_of(1, RUNNING, 10, 3), now=0.1)  # no change
    assert not watch.update(progress_of(9, RUNNING, 10, 3), now=0.1)  # not watched
    assert watch.update(progress_of(1, COMPLETED, 10, 10), now=0.2)
    assert not watch.finished
    assert not watch.update(progress_of(1, RUNNING, 10, 9), now=0.3)  # stale after the end
    assert watch.update(progress_of(2, BatchState.FAILED, 10, 8, 2), now=0.3)
    assert watch.finished


def test_watch_set_of_everything_adopts_new_active_batches_only() -> None:
    watch = WatchSet(everything=True)
    assert watch.finished  # nothing to watch
    assert not watch.update(progress_of(4, COMPLETED, 1, 1), now=0.0)
    assert watch.update(progress_of(5, RUNNING, 10, 1), now=0.0)
    assert watch.wanted == {5}
    assert not watch.finished


def test_watch_set_polls_what_went_quiet() -> None:
    watch = WatchSet(everything=False, wanted={1, 2, 3})
    watch.update(progress_of(1, RUNNING, 10, 1), now=10.0)
    watch.update(progress_of(2, RUNNING, 10, 1), now=10.8)
    watch.update(progress_of(3, COMPLETED, 10, 10), now=5.0)
    assert watch.stale(now=11.0, interval=1.0) == [1]
    assert watch.stale(now=12.0, interval=1.0) == [1, 2]


def test_wait_follows_events_and_returns_the_final_progress(
    control: str, publish_endpoint: str
) -> None:
    script = ProgressScript(3, total=200, duration=0.6).start()
    seen: list[BatchProgress] = []
    with (
        FakeRouter(control, FakeBatchd(scripts={3: script})) as router,
        FakePublisher(publish_endpoint, lambda: [script.event()]),
        Client.connect(control, timeout=2.0) as client,
    ):
        final = client.wait(3, on_progress=seen.append, poll_interval=5.0)
    assert final.state is COMPLETED
    assert (final.completed, final.total) == (200, 200)
    assert len(seen) > 2
    assert seen[-1] == final
    done = [p.completed for p in seen]
    assert done == sorted(done)
    # With events flowing, progress was asked once (the start), never polled.
    assert [r.command for r in router.received].count("progress") == 1


def test_wait_polls_when_there_is_no_event_socket(control: str) -> None:
    script = ProgressScript(3, total=50, duration=0.3, final=BatchState.FAILED, failed=2).start()
    with (
        FakeRouter(control, FakeBatchd(scripts={3: script})) as router,
        Client.connect(control, timeout=2.0) as client,
    ):
        final = client.wait(3, poll_interval=0.05)
    assert final.state is BatchState.FAILED
    assert (final.completed, final.failed) == (48, 2)
    assert [r.command for r in router.received].count("progress") >= 3


def test_wait_with_a_timeout_raises_wait_timeout_in_time(control: str) -> None:
    script = ProgressScript(3, total=50, duration=60).start()
    with (
        FakeRouter(control, FakeBatchd(scripts={3: script})),
        Client.connect(control, timeout=2.0) as client,
    ):
        start = time.monotonic()
        with pytest.raises(WaitTimeout, match=r"batch 3 did not end within 0\.3 s"):
            client.wait(3, poll_interval=0.05, timeout=0.3)
        assert time.monotonic() - start < 1.0


def test_wait_on_an_unknown_batch_raises_batch_not_found(control: str) -> None:
    with (
        FakeRouter(control, FakeBatchd()),
        Client.connect(control, timeout=2.0) as client,
        pytest.raises(BatchNotFound),
    ):
        client.wait(99)


def test_watch_of_everything_follows_the_active_batches_and_late_ones(
    control: str, publish_endpoint: str
) -> None:
    first = ProgressScript(1, total=10, duration=0.3).start()
    late = ProgressScript(2, total=10, duration=0.3)
    fake = FakeBatchd(scripts={1: first, 2: late})

    def active() -> object:
        from batchd.protocol.batch_messages import ListReply

        batches = [s.now() for s in (first, late) if s.started is not None]
        return ListReply(tuple(p for p in batches if p.state is RUNNING))

    fake.replies["list"] = lambda message: active()

    def events() -> list[BatchProgressEvent]:
        if first.now().completed >= 5:
            late.start()
        return [s.event() for s in (first, late) if s.started is not None]

    with (
        FakeRouter(control, fake),
        FakePublisher(publish_endpoint, events),
        Client.connect(control, timeout=2.0) as client,
    ):
        updates = list(client.watch(poll_interval=0.1))
    finals = {p.id: p for p in updates}
    assert set(finals) == {1, 2}
    assert all(p.state is COMPLETED for p in finals.values())
