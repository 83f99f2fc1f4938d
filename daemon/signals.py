"""Turns SIGTERM/SIGINT into a flag and a readable fd, so the poll loop wakes up at once."""

from __future__ import annotations

import logging
import signal
import socket
from types import FrameType

log = logging.getLogger(__name__)


class StopSignals:
    """Install handlers for SIGTERM and SIGINT; ``requested`` turns true on either."""

    def __init__(self) -> None:
        self.requested = False
        self.signal_name = ""
        self._reader, self._writer = socket.socketpair()
        for sock in (self._reader, self._writer):
            sock.setblocking(False)

    @property
    def wakeup_fd(self) -> int:
        """Becomes readable when a signal arrives; poll it beside the sockets."""
        return self._reader.fileno()

    def install(self) -> None:
        """Route the signals here (call from the main thread)."""
        signal.set_wakeup_fd(self._writer.fileno(), warn_on_full_buffer=False)
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)

    def drain(self) -> None:
        """Empty the wakeup fd after a wake-up."""
        try:
            while self._reader.recv(512):
                pass
        except BlockingIOError:
            pass

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if not self.requested:
            self.signal_name = signal.Signals(signum).name
            log.info("received %s: stopping", self.signal_name)
        self.requested = True

    def close(self) -> None:
        """Restore the default handlers and close the wakeup pair."""
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        self._reader.close()
        self._writer.close()
