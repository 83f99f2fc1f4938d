"""The pure recovery fold."""

from __future__ import annotations

from batchd.daemon.journal.records import DaemonStarted, DaemonStopped
from batchd.daemon.journal.recovery import DaemonHistory, recover

START_1 = DaemonStarted(pid=1, time=10.0, version="0.1.0")
START_2 = DaemonStarted(pid=2, time=20.0, version="0.1.0")


def test_empty_journal_has_no_history() -> None:
    assert recover([]) == DaemonHistory(starts=0, last_start=None, last_stop_clean=None)


def test_clean_stop_after_the_last_start() -> None:
    history = recover([START_1, DaemonStopped(time=11.0, clean=True)])
    assert history == DaemonHistory(starts=1, last_start=START_1, last_stop_clean=True)


def test_a_start_without_a_stop_means_the_last_run_crashed() -> None:
    history = recover([START_1, DaemonStopped(time=11.0, clean=True), START_2])
    assert history == DaemonHistory(starts=2, last_start=START_2, last_stop_clean=False)


def test_an_unclean_stop_is_not_clean() -> None:
    history = recover([START_1, DaemonStopped(time=11.0, clean=False)])
    assert history.last_stop_clean is False


def test_a_stop_before_the_last_start_does_not_count() -> None:
    history = recover([DaemonStopped(time=1.0, clean=True), START_1])
    assert history == DaemonHistory(starts=1, last_start=START_1, last_stop_clean=False)


def test_recover_streams_from_a_generator() -> None:
    def records():  # type: ignore[no-untyped-def]
        for pid in range(100_000):
            yield DaemonStarted(pid=pid, time=0.0, version="x")
            yield DaemonStopped(time=0.0, clean=True)

    history = recover(records())
    assert history.starts == 100_000
    assert history.last_stop_clean is True
