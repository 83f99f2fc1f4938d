"""The daemon process end to end: start, answer, refuse a twin, stop, crash and recover."""

from __future__ import annotations

import signal
import stat
import time

from running_daemon import RunningDaemon


def test_answers_ping_over_ipc_and_reports_first_start(daemon: RunningDaemon) -> None:
    reply = daemon.ping()
    assert reply.pid == daemon.process.pid  # type: ignore[union-attr]
    assert reply.protocol == 1
    assert reply.last_stop_clean is None
    assert reply.uptime >= 0
    assert reply.state_dir == str(daemon.state_dir)


def test_runtime_dir_and_sockets_are_private(daemon: RunningDaemon) -> None:
    assert stat.S_IMODE(daemon.runtime_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(daemon.state_dir.stat().st_mode) == 0o700
    for name in ("control.sock", "events.sock"):
        assert stat.S_IMODE((daemon.runtime_dir / name).stat().st_mode) == 0o600


def test_second_daemon_on_same_state_dir_refuses(
    daemon: RunningDaemon, daemon_factory: type[RunningDaemon]
) -> None:
    twin = daemon_factory(name="d")  # same directories
    twin.start(wait=False)
    assert twin.wait(15) == 75
    assert f"another batchd (pid {daemon.process.pid})" in twin.log()  # type: ignore[union-attr]
    assert "state directory" in twin.log()
    assert daemon.ping().pid == daemon.process.pid  # type: ignore[union-attr]


def test_second_daemon_on_same_runtime_dir_refuses(
    daemon: RunningDaemon, daemon_factory: type[RunningDaemon]
) -> None:
    twin = daemon_factory(name="other")
    twin.runtime_dir = daemon.runtime_dir
    twin.start(wait=False)
    assert twin.wait(15) == 75
    assert "runtime directory" in twin.log()
    assert daemon.ping().pid == daemon.process.pid  # type: ignore[union-attr]


def test_sigterm_stops_with_exit_0_and_next_start_sees_clean_stop(
    daemon: RunningDaemon,
) -> None:
    assert daemon.stop() == 0
    assert not (daemon.runtime_dir / "control.sock").exists()
    daemon.start()
    assert daemon.ping().last_stop_clean is True


def test_sigint_stops_with_exit_0(daemon: RunningDaemon) -> None:
    daemon.signal(signal.SIGINT)
    assert daemon.wait(15) == 0


def test_sigkill_leaves_a_journal_the_next_start_recovers(daemon: RunningDaemon) -> None:
    assert daemon.ping().last_stop_clean is None
    daemon.kill()
    daemon.start()
    assert daemon.ping().last_stop_clean is False
    assert daemon.stop() == 0
    daemon.start()
    assert daemon.ping().last_stop_clean is True


def test_repeated_kill_and_restart_keeps_the_journal_readable(daemon: RunningDaemon) -> None:
    for _ in range(5):
        daemon.kill()
        daemon.start()
        assert daemon.ping().last_stop_clean is False
    assert len(list((daemon.state_dir / "journal").iterdir())) >= 6


def test_stop_while_clients_keep_asking_still_exits_0(daemon: RunningDaemon) -> None:
    for _ in range(50):
        daemon.ping()
    started = time.monotonic()
    assert daemon.stop() == 0
    assert time.monotonic() - started < 5
