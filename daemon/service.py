"""systemd's notify protocol: readiness, a status line, the watchdog, and stopping.

systemd starts ``batchd`` as ``Type=notify``: it counts the service as started only on
``READY=1``, which the daemon sends once the journal is recovered and the control socket is
bound, so ``systemctl start batchd && batchctl ping`` never races. ``STATUS=`` keeps the line
``systemctl status`` shows current; ``WATCHDOG=1`` comes from the main loop itself, so a wedged
loop (not merely a dead process) gets the service restarted.

Everything here is a no-op when the daemon was not started by systemd (no ``NOTIFY_SOCKET``)
or systemd-python is not installed. The decisions (status text, watchdog interval) are pure
functions; :class:`ServiceNotifier` applies them through an injected ``send`` callable.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Final, Protocol

log = logging.getLogger(__name__)

STATUS_INTERVAL: Final = 1.0
"""Seconds between two STATUS= updates at most (systemd keeps only the latest anyway)."""

WEDGE_ENV: Final = "BATCHD_TEST_WEDGE_AFTER"
"""Test hook: wedge the main loop this many seconds after READY (read only when set)."""

Send = Callable[[str], object]


class BatchCounts(Protocol):
    """What the status line needs of a batch."""

    @property
    def completed(self) -> int:
        """Items done."""
        ...

    @property
    def failed(self) -> int:
        """Items that failed for good."""
        ...

    @property
    def total(self) -> int:
        """Items in the batch."""
        ...


def status_line(active: Sequence[BatchCounts]) -> str:
    """The one-line summary for ``STATUS=``, e.g. ``ready; 2 batches active, 1234/5000 items``."""
    if not active:
        return "ready; idle"
    done = sum(batch.completed + batch.failed for batch in active)
    total = sum(batch.total for batch in active)
    failed = sum(batch.failed for batch in active)
    noun = "batch" if len(active) == 1 else "batches"
    line = f"ready; {len(active)} {noun} active, {done}/{total} items"
    return f"{line}, {failed} failed" if failed else line


def watchdog_interval(env: Mapping[str, str], pid: int) -> float | None:
    """Seconds between two ``WATCHDOG=1`` (half of ``WATCHDOG_USEC``), or None when systemd
    does not watch this process (no watchdog, or ``WATCHDOG_PID`` names another process)."""
    watcher = env.get("WATCHDOG_PID")
    if watcher and watcher != str(pid):
        return None
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    return usec / 2e6 if usec > 0 else None


def wedge_after(env: Mapping[str, str]) -> float | None:
    """The test hook's delay, when ``BATCHD_TEST_WEDGE_AFTER`` is set to a number."""
    text = env.get(WEDGE_ENV)
    if not text:
        return None
    try:
        return max(0.0, float(text))
    except ValueError:
        log.warning("ignoring %s=%r: not a number of seconds", WEDGE_ENV, text)
        return None


def systemd_send(env: Mapping[str, str]) -> Send | None:
    """``systemd.daemon.notify`` when started by systemd and systemd-python is installed."""
    if not env.get("NOTIFY_SOCKET"):
        return None
    try:
        from systemd import daemon as sd_daemon
    except ImportError:
        log.warning("NOTIFY_SOCKET is set but systemd-python is not installed: not notifying")
        return None
    notify: Send = sd_daemon.notify
    return notify


class ServiceNotifier:
    """Tells the service manager how the daemon is doing; silent without one."""

    def __init__(
        self,
        send: Send | None,
        *,
        watchdog: float | None = None,
        wedge: float | None = None,
    ) -> None:
        self._send = send
        self._watchdog = watchdog if send is not None else None
        self._wedge = wedge
        self._wedge_at: float | None = None
        self._next_ping = 0.0
        self._next_status = 0.0
        self._status = ""

    @classmethod
    def from_environment(cls, env: Mapping[str, str] | None = None) -> ServiceNotifier:
        """The notifier for this process, configured from systemd's environment variables."""
        env = os.environ if env is None else env
        return cls(
            systemd_send(env),
            watchdog=watchdog_interval(env, os.getpid()),
            wedge=wedge_after(env),
        )

    @property
    def enabled(self) -> bool:
        """Whether messages go anywhere."""
        return self._send is not None

    def starting(self, text: str) -> None:
        """Say what start-up is doing (e.g. a long journal recovery)."""
        self._notify(f"STATUS={text}")

    def ready(self, active: Sequence[BatchCounts], now: float) -> None:
        """Start-up is complete: recovered, bound, serving (``READY=1``)."""
        self._status = status_line(active)
        self._next_status = now + STATUS_INTERVAL
        message = f"READY=1\nSTATUS={self._status}"
        if self._watchdog is not None:
            message += "\nWATCHDOG=1"
            self._next_ping = now + self._watchdog
            log.info("systemd watchdog: pinging every %.3f s", self._watchdog)
        if self._wedge is not None:
            self._wedge_at = now + self._wedge
            log.warning("%s is set: the main loop will wedge in %g s", WEDGE_ENV, self._wedge)
        self._notify(message)

    def next_deadline(self) -> float | None:
        """When the loop must call :meth:`tick` again, for the watchdog."""
        return self._next_ping if self._watchdog is not None else None

    def tick(self, active: Callable[[], Sequence[BatchCounts]], now: float) -> None:
        """Ping the watchdog when due; refresh the status at most once a second, if changed
        (``active`` is called only then, so an idle turn costs no more than a clock read)."""
        if self._wedge_at is not None and now >= self._wedge_at:
            _wedge_forever()
        if self._send is None:
            return
        lines = []
        if self._watchdog is not None and now >= self._next_ping:
            lines.append("WATCHDOG=1")
            self._next_ping = now + self._watchdog
        if now >= self._next_status:
            status = status_line(active())
            if status != self._status:
                self._status = status
                self._next_status = now + STATUS_INTERVAL
                lines.append(f"STATUS={status}")
        if lines:
            self._notify("\n".join(lines))

    def stopping(self, text: str) -> None:
        """Shut-down has begun (``STOPPING=1``)."""
        self._notify(f"STOPPING=1\nSTATUS={text}")

    def _notify(self, message: str) -> None:
        if self._send is not None:
            self._send(message)


def _wedge_forever() -> None:
    """The test hook: stop the main loop the way a deadlock would (signals stay pending)."""
    log.warning("%s: wedging the main loop now", WEDGE_ENV)
    while True:
        time.sleep(3600)
