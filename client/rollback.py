"""The undo commands of the Client, and a rollback that waits while a batch is busy.

A rollback of a running (or paused) batch is answered ``BATCH_BUSY``: the daemon cancels the
batch, and its running items finish first. :func:`rollback_when_free` waits for the batch named
in the error to end, then repeats the request, all within one overall limit. The request and
the wait are passed in, so the loop is tested without sockets or sleeps. :class:`UndoCommands`
holds the Client's ``rollback``, ``undo``, ``history`` and ``purge`` methods.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TypeVar

from batchd.client.errors import WaitTimeout
from batchd.client.tracking import DEFAULT_POLL_INTERVAL
from batchd.protocol.batch_messages import BatchProgress
from batchd.protocol.errors import BatchBusy
from batchd.protocol.messages import Request
from batchd.protocol.rollback_messages import (
    HistoryReply,
    HistoryRequest,
    PurgeReply,
    PurgeRequest,
    RollbackReply,
    RollbackRequest,
)

R = TypeVar("R")

DEFAULT_BUSY_TIMEOUT = 60.0
"""Seconds a rollback waits, in all, for busy batches to end before it gives up."""

FIRST_PAUSE = 0.05
MAX_PAUSE = 1.0
"""Pauses between asks when the daemon still says busy about a batch that has ended."""


def rollback_when_free(
    ask: Callable[[], RollbackReply],
    wait_until_ended: Callable[[int, float], object],
    busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
    *,
    on_busy: Callable[[BatchBusy], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> RollbackReply:
    """The reply of `ask`, asked again each time a busy batch it names has ended.

    `wait_until_ended(batch, seconds)` blocks until the batch ended or raises WaitTimeout.
    `on_busy` sees each BatchBusy before the wait. Raises BatchBusy (naming the batch and what
    to do) when the batches are still busy after `busy_timeout` seconds.
    """
    if not busy_timeout > 0:
        raise ValueError(f"busy_timeout must be a positive number of seconds, got {busy_timeout!r}")
    deadline = clock() + busy_timeout
    waited: set[int] = set()
    pause = FIRST_PAUSE
    while True:
        try:
            return ask()
        except BatchBusy as busy:
            batch = busy.details.get("batch")
            if not isinstance(batch, int) or isinstance(batch, bool):
                raise  # nothing to wait for: let the caller see the daemon's answer
            if batch in waited:
                # It ended as far as progress tells, yet the daemon is still settling it.
                sleep(max(0.0, min(pause, deadline - clock())))
                pause = min(pause * 2, MAX_PAUSE)
            left = deadline - clock()
            if left <= 0:
                raise still_busy(batch, busy_timeout, busy) from None
            if on_busy is not None:
                on_busy(busy)
            try:
                wait_until_ended(batch, left)
            except WaitTimeout:
                raise still_busy(batch, busy_timeout, busy) from None
            waited.add(batch)


def still_busy(batch: int, busy_timeout: float, busy: BatchBusy) -> BatchBusy:
    """The error for a batch that did not end within the rollback's wait."""
    return BatchBusy(
        f"batch {batch} is still stopping after {busy_timeout:g} s, so it cannot be rolled "
        f"back yet; wait for it to end (batchctl wait {batch}) and roll back again",
        {**busy.details, "busy_timeout": busy_timeout},
    )


class UndoCommands:
    """The undo commands of :class:`~batchd.client.api.Client`: rollback, undo, history, purge.

    A mixin, kept apart so each module stays small; Client provides ``_request`` and ``wait``.
    """

    def rollback(
        self,
        batches: Sequence[int],
        *,
        items: str = "",
        paths: Sequence[str] = (),
        dry_run: bool = False,
        force: bool = False,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
        on_busy: Callable[[BatchBusy], None] | None = None,
        timeout: float | None = None,
    ) -> RollbackReply:
        """Undo `batches` (newest first), or only the plan lines `items` (``"3,7-9"``) and
        the items whose absolute paths match one of the shell globs `paths`.

        The undo runs as a new batch: its id is the reply's ``rollback`` (None for a dry run,
        which returns a ``preview`` of the actions and their conflicts, and when there is
        nothing to undo; ``already`` lists batches rolled back before). Follow it with
        ``wait``; its failed items are conflicts. A batch that is still running is stopped
        first: this waits for it to end and asks again, for `busy_timeout` seconds in all
        (then BatchBusy); `on_busy` sees each BatchBusy first. Raises RollbackBlocked when
        newer batches changed the same paths, RollbackUnavailable without undo data.
        """
        request = RollbackRequest(tuple(batches), items, tuple(paths), dry_run, force)
        return rollback_when_free(
            lambda: self._request(request, RollbackReply, timeout),
            lambda batch, seconds: self.wait(batch, timeout=seconds),
            busy_timeout,
            on_busy=on_busy,
        )

    def undo(
        self,
        *,
        dry_run: bool = False,
        force: bool = False,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
        on_busy: Callable[[BatchBusy], None] | None = None,
        timeout: float | None = None,
    ) -> RollbackReply:
        """Roll back the newest batch that can still be rolled back (see :meth:`rollback`)."""
        return self.rollback(
            (),
            dry_run=dry_run,
            force=force,
            busy_timeout=busy_timeout,
            on_busy=on_busy,
            timeout=timeout,
        )

    def history(
        self, limit: int = 100, batch: int | None = None, timeout: float | None = None
    ) -> HistoryReply:
        """The newest `limit` events of the operation log (of one batch), oldest first."""
        return self._request(HistoryRequest(limit, batch), HistoryReply, timeout)

    def purge(
        self,
        batches: Sequence[int] = (),
        older_than_days: float | None = None,
        timeout: float | None = None,
    ) -> PurgeReply:
        """Drop the undo data of `batches`, or of every batch that ended more than
        `older_than_days` days ago; those batches can no longer be rolled back."""
        request = PurgeRequest(tuple(batches), older_than_days)
        return self._request(request, PurgeReply, timeout)

    def _request(self, message: Request, reply_type: type[R], timeout: float | None = None) -> R:
        raise NotImplementedError

    def wait(
        self,
        batch: int,
        on_progress: Callable[[BatchProgress], None] | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        timeout: float | None = None,
    ) -> BatchProgress:
        """Block until the batch ended (provided by Client)."""
        raise NotImplementedError
