"""Client.rollback/undo/history/purge, and the wait-and-ask-again loop of a busy rollback."""

from __future__ import annotations

import time

import pytest
from fake_router import FakeBatchd, FakeRouter, ProgressScript

from batchd.client import Client, WaitTimeout
from batchd.client.rollback import FIRST_PAUSE, rollback_when_free
from batchd.protocol.batch_messages import BatchState
from batchd.protocol.errors import BatchBusy, RollbackBlocked, RollbackUnavailable
from batchd.protocol.rollback_messages import (
    HistoryEvent,
    HistoryReply,
    HistoryRequest,
    PurgeReply,
    PurgeRequest,
    RollbackAction,
    RollbackReply,
    RollbackRequest,
)

STARTED = RollbackReply(9, (5,), 3, 0, (), ())


class FakeClock:
    """A monotonic clock that moves only when the code under test waits or sleeps."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class Daemon:
    """Answers BatchBusy `busy` times, then `reply`."""

    def __init__(self, busy: int, reply: RollbackReply = STARTED, batch: object = 5) -> None:
        self.busy = busy
        self.reply = reply
        self.batch = batch
        self.asked = 0

    def ask(self) -> RollbackReply:
        self.asked += 1
        if self.asked <= self.busy:
            raise BatchBusy(f"batch {self.batch} is being cancelled", {"batch": self.batch})
        return self.reply


class Waits:
    """Records waits; each takes `takes` seconds of the fake clock, or raises WaitTimeout
    when that is more than the time allowed."""

    def __init__(self, clock: FakeClock, takes: float = 2.0) -> None:
        self.clock = clock
        self.takes = takes
        self.calls: list[tuple[int, float]] = []

    def __call__(self, batch: int, seconds: float) -> None:
        self.calls.append((batch, seconds))
        if self.takes > seconds:
            self.clock.now += seconds
            raise WaitTimeout(f"batch {batch} did not end", {"batches": [batch]})
        self.clock.now += self.takes


def test_a_free_rollback_is_asked_once() -> None:
    clock = FakeClock()
    daemon, waits = Daemon(busy=0), Waits(clock)
    reply = rollback_when_free(daemon.ask, waits, 60.0, clock=clock, sleep=clock.sleep)
    assert (reply, daemon.asked, waits.calls) == (STARTED, 1, [])


def test_a_busy_batch_is_waited_for_then_asked_again() -> None:
    clock = FakeClock()
    daemon, waits = Daemon(busy=1), Waits(clock, takes=2.0)
    seen: list[BatchBusy] = []
    reply = rollback_when_free(
        daemon.ask, waits, 60.0, on_busy=seen.append, clock=clock, sleep=clock.sleep
    )
    assert reply == STARTED
    assert daemon.asked == 2
    assert waits.calls == [(5, 60.0)]
    assert [busy.details for busy in seen] == [{"batch": 5}]
    assert clock.sleeps == []


def test_still_busy_after_the_wait_backs_off_until_the_deadline() -> None:
    clock = FakeClock()
    daemon, waits = Daemon(busy=1000), Waits(clock, takes=0.0)
    with pytest.raises(BatchBusy) as caught:
        rollback_when_free(daemon.ask, waits, 5.0, clock=clock, sleep=clock.sleep)
    assert clock.sleeps[:3] == [FIRST_PAUSE, FIRST_PAUSE * 2, FIRST_PAUSE * 4]
    assert max(clock.sleeps) <= 1.0
    assert clock.now == pytest.approx(105.0)
    assert "batch 5 is still stopping after 5 s" in caught.value.message
    assert "batchctl wait 5" in caught.value.message
    assert caught.value.details == {"batch": 5, "busy_timeout": 5.0}


def test_a_batch_that_does_not_end_in_time_raises_batch_busy() -> None:
    clock = FakeClock()
    daemon, waits = Daemon(busy=1), Waits(clock, takes=100.0)
    with pytest.raises(BatchBusy) as caught:
        rollback_when_free(daemon.ask, waits, 10.0, clock=clock, sleep=clock.sleep)
    assert waits.calls == [(5, 10.0)]
    assert daemon.asked == 1
    assert "still stopping after 10 s" in caught.value.message


def test_a_busy_error_without_a_batch_is_passed_on() -> None:
    clock = FakeClock()
    daemon = Daemon(busy=1, batch="five")
    with pytest.raises(BatchBusy) as caught:
        rollback_when_free(daemon.ask, Waits(clock), 10.0, clock=clock, sleep=clock.sleep)
    assert caught.value.message == "batch five is being cancelled"


def test_busy_timeout_must_be_positive() -> None:
    with pytest.raises(ValueError, match="busy_timeout"):
        rollback_when_free(Daemon(busy=0).ask, lambda b, s: None, 0.0)


def test_rollback_sends_its_arguments(control: str) -> None:
    sent: list[RollbackRequest] = []

    def answer(message: RollbackRequest) -> RollbackReply:
        sent.append(message)
        return STARTED

    with (
        FakeRouter(control, FakeBatchd(replies={"rollback": answer})),
        Client.connect(control, timeout=2.0) as client,
    ):
        assert client.rollback([7, 5], items="3,7-9", paths=["/d/*.jpg"], force=True) == STARTED
        assert client.undo(dry_run=True) == STARTED
    assert sent == [
        RollbackRequest((7, 5), "3,7-9", ("/d/*.jpg",), False, True),
        RollbackRequest((), "", (), True, False),
    ]


def test_rollback_of_a_busy_batch_waits_for_it_and_asks_again(control: str) -> None:
    calls: list[str] = []

    def answer(message: RollbackRequest) -> RollbackReply:
        calls.append("rollback")
        if len(calls) == 1:
            raise BatchBusy("batch 5 is running; cancelling it first", {"batch": 5, "running": 2})
        return STARTED

    # Batch 5 ended just now: its running items finished after the cancel.
    ended = ProgressScript(5, 10, 0.01, final=BatchState.CANCELLED, started=time.monotonic() - 1)
    daemon = FakeBatchd(scripts={5: ended}, replies={"rollback": answer})
    seen: list[BatchBusy] = []
    with FakeRouter(control, daemon) as router, Client.connect(control, timeout=2.0) as client:
        assert client.rollback([5], on_busy=seen.append) == STARTED
    commands = [r.command for r in router.received if r.command != "hello"]
    assert commands == ["rollback", "progress", "rollback"]
    assert seen[0].details == {"batch": 5, "running": 2}


def test_rollback_gives_up_when_the_busy_batch_does_not_end(control: str) -> None:
    running = ProgressScript(5, 10, 60.0).start()
    busy = BatchBusy("batch 5 is running; cancelling it first", {"batch": 5})
    daemon = FakeBatchd(scripts={5: running}, replies={"rollback": busy})
    start = time.monotonic()
    with (
        FakeRouter(control, daemon),
        Client.connect(control, timeout=2.0) as client,
        pytest.raises(BatchBusy, match=r"still stopping after 0\.3 s"),
    ):
        client.rollback([5], busy_timeout=0.3)
    assert time.monotonic() - start < 3.0


@pytest.mark.parametrize(
    "error",
    [
        RollbackBlocked("newer batches changed the paths", {"batch": 5, "blocking": [7]}),
        RollbackUnavailable("undo data of batch 5 was purged", {"purged_at": 1.0}),
    ],
    ids=lambda e: type(e).__name__,
)
def test_rollback_errors_come_back_as_their_classes(control: str, error: Exception) -> None:
    with (
        FakeRouter(control, FakeBatchd(replies={"rollback": error})),
        Client.connect(control, timeout=2.0) as client,
        pytest.raises(type(error)) as caught,
    ):
        client.rollback([5])
    assert caught.value.details == error.details  # type: ignore[attr-defined]


def test_a_dry_run_reply_keeps_its_preview(control: str) -> None:
    action = RollbackAction(5, 2, "move back", b"/d/caf\xe9.jpg", "changed since the batch ran")
    preview = RollbackReply(None, (5,), 1, 1, (action,), ())
    with (
        FakeRouter(control, FakeBatchd(replies={"rollback": preview})),
        Client.connect(control, timeout=2.0) as client,
    ):
        assert client.rollback([5], dry_run=True) == preview


def test_history_and_purge(control: str) -> None:
    history = HistoryReply((HistoryEvent(1.7e9, "submitted", 5, "", "photos"),))
    purged = PurgeReply((3, 4), 12_897_485)
    asked: list[object] = []

    def log(message: HistoryRequest) -> HistoryReply:
        asked.append(message)
        return history

    def purge(message: PurgeRequest) -> PurgeReply:
        asked.append(message)
        return purged

    with (
        FakeRouter(control, FakeBatchd(replies={"history": log, "purge": purge})),
        Client.connect(control, timeout=2.0) as client,
    ):
        assert client.history() == history
        assert client.history(limit=5, batch=5) == history
        assert client.purge([3, 4]) == purged
        assert client.purge(older_than_days=7.5) == purged
    assert asked == [
        HistoryRequest(100, None),
        HistoryRequest(5, 5),
        PurgeRequest((3, 4), None),
        PurgeRequest((), 7.5),
    ]
