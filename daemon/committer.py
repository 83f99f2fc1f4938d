"""Group commits on a thread of their own, so the main loop never waits for an fdatasync.

The loop appends records and ``kick``s; this thread makes everything appended so far durable
(one write, one fdatasync, as ``Journal.commit`` does) and then makes ``wake_fd`` readable so
the loop, polling it beside its sockets, answers the requests and starts the chunks whose
records became durable. fdatasync releases the GIL, so the loop keeps serving meanwhile.
A failed fsync is fatal (journal.md: never retried): ``check`` raises it in the loop.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable

from batchd.daemon.journal import Journal, JournalWriteError

log = logging.getLogger(__name__)


class BackgroundCommitter:
    """Owns the thread that commits ``journal`` whenever the loop asks."""

    def __init__(self, journal: Journal, on_commit: Callable[[float], None] | None = None) -> None:
        self._journal = journal
        self._on_commit = on_commit
        """Told the seconds each group commit took (the metrics' commit latency)."""
        self._reader, self._writer = socket.socketpair()
        for end in (self._reader, self._writer):
            end.setblocking(False)
        self._wanted = threading.Event()
        self._stopping = False
        self._error: JournalWriteError | None = None
        self._thread = threading.Thread(target=self._run, name="journal-commit", daemon=True)

    @property
    def wake_fd(self) -> int:
        """Readable after each commit; poll it, then call ``drain``."""
        return self._reader.fileno()

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def kick(self) -> None:
        """Ask for a commit of everything appended so far (cheap; coalesces)."""
        self._wanted.set()

    def drain(self) -> None:
        """Empty the wake-up socket."""
        with contextlib.suppress(BlockingIOError):
            while self._reader.recv(4096):
                pass

    def check(self) -> JournalWriteError | None:
        """Raise a fatal commit failure; return (once) a write failure worth retrying."""
        error, self._error = self._error, None
        if error is not None and error.fatal:
            self._error = error  # stays fatal
            raise error
        return error

    def stop(self) -> None:
        """Let the thread finish its current commit and end."""
        self._stopping = True
        self._wanted.set()
        self._thread.join()
        self._reader.close()
        self._writer.close()

    def _run(self) -> None:
        while True:
            self._wanted.wait()
            self._wanted.clear()
            if self._stopping:
                return
            try:
                if self._journal.pending:
                    started = time.perf_counter()
                    self._journal.commit()
                    if self._on_commit is not None:
                        self._on_commit(time.perf_counter() - started)
            except JournalWriteError as exc:
                self._error = exc
                if exc.fatal:
                    self._wake()
                    return
            self._wake()

    def _wake(self) -> None:
        with contextlib.suppress(BlockingIOError):
            self._writer.send(b"\0")
