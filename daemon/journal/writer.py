"""Group commit: one ``write`` of the group's block(s) and one ``fdatasync`` per group.

Any thread may append; appends are cheap (they take the lock to number the record and queue
its payload). The first thread that waits for an LSN that is not yet durable becomes the
leader: it takes every queued record, writes them as one group, fdatasyncs, and only then
advances the durable LSN and wakes the followers whose records rode along. Appends made while
the leader is in ``fdatasync`` form the next group.

Durability rules (docs/journal-format.md): a failed write is undone by truncating back to the
last good end (the records stay queued and may be retried); if that truncate fails, or an
fdatasync fails, the writer is dead for good — a failed fsync is never retried, because the
kernel may already have dropped the dirty pages.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from batchd.daemon.journal.errors import JournalWriteError
from batchd.daemon.journal.format import MAX_PAYLOAD, encode_group
from batchd.daemon.journal.segment import OpenSegment, create_segment
from batchd.daemon.journal.syscalls import JournalSyscalls, write_all

_log = logging.getLogger(__name__)


class GroupCommitWriter:
    """Appends records to the journal's current segment and makes them durable in groups."""

    def __init__(
        self,
        directory: Path,
        segment: OpenSegment,
        syscalls: JournalSyscalls,
        segment_limit: int,
    ) -> None:
        self._directory = directory
        self._syscalls = syscalls
        self._segment_limit = segment_limit
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._segment = segment
        self._end = segment.size
        self._pending: list[bytes] = []
        self._next_lsn = segment.first_lsn
        self._durable_lsn = segment.first_lsn - 1
        self._committing = False
        self._failed: JournalWriteError | None = None
        self._closed = False
        self.segments_created = 1
        self.bytes_in_earlier_segments = 0
        self.records_written = 0
        self.commits = 0

    @property
    def durable_lsn(self) -> int:
        """The highest LSN whose fdatasync returned."""
        return self._durable_lsn

    @property
    def pending(self) -> int:
        """Records appended but not yet durable (queued or being written)."""
        with self._lock:
            return self._next_lsn - 1 - self._durable_lsn

    @property
    def current_end(self) -> int:
        """Durable size of the current segment."""
        return self._end

    @property
    def current_segment(self) -> int:
        """Number of the segment being appended to."""
        return self._segment.number

    def rotate(self) -> None:
        """Commit what is queued, then continue in a new segment (unless the current one holds
        no record yet), so that everything appended so far lies in closed segments."""
        while True:
            self.commit()
            with self._changed:
                while self._committing:
                    self._changed.wait()
                if self._pending:
                    continue  # appended meanwhile: commit those too
                if self._failed is not None or self._closed:
                    self._raise_if_unusable()
                if self._end == self._segment.size:
                    return
                self._committing = True
                break
        try:
            self._roll()
        finally:
            with self._changed:
                self._committing = False
                self._changed.notify_all()

    @property
    def appended_lsn(self) -> int:
        """The LSN of the last record appended (durable or not)."""
        with self._lock:
            return self._next_lsn - 1

    def append(self, payload: bytes) -> int:
        """Queue one record payload; returns its LSN. Raises JournalWriteError once dead."""
        if len(payload) > MAX_PAYLOAD:
            raise ValueError(f"record of {len(payload)} bytes exceeds {MAX_PAYLOAD} bytes")
        with self._lock:
            if self._failed is not None or self._closed:
                self._raise_if_unusable()
            lsn = self._next_lsn
            self._next_lsn = lsn + 1
            self._pending.append(payload)
        return lsn

    def commit(self) -> int:
        """Make everything appended so far durable; returns the durable LSN."""
        with self._lock:
            target = self._next_lsn - 1
        self.wait_durable(target)
        return self._durable_lsn

    def wait_durable(self, lsn: int) -> None:
        """Block until ``lsn`` is durable, committing the whole queue as leader if no one is."""
        while True:
            with self._changed:
                if lsn >= self._next_lsn:
                    raise ValueError(f"LSN {lsn} was never appended")
                while True:
                    if self._durable_lsn >= lsn:
                        return
                    if self._failed is not None:
                        raise JournalWriteError(str(self._failed), fatal=True) from self._failed
                    if not self._committing:
                        break
                    self._changed.wait()
                self._committing = True
            try:
                self._commit_group()
            finally:
                with self._changed:
                    self._committing = False
                    self._changed.notify_all()

    def close(self) -> None:
        """Commit what is queued (unless dead), then close the segment; idempotent."""
        with self._changed:
            if self._closed:
                return
            self._closed = True
            target = self._next_lsn - 1
        try:
            if self._failed is None and target > self._durable_lsn:
                self.wait_durable(target)
        finally:
            with self._changed:
                while self._committing:
                    self._changed.wait()
                os.close(self._segment.fd)

    def _raise_if_unusable(self) -> None:
        if self._failed is not None:
            raise JournalWriteError(
                f"the journal refuses appends after an earlier failure: {self._failed}",
                fatal=True,
            )
        if self._closed:
            raise JournalWriteError(f"the journal in {self._directory} is closed", fatal=True)

    def _commit_group(self) -> None:
        """Write and fdatasync every queued record as one group (leader only)."""
        with self._lock:
            batch = self._pending
            if not batch:
                return
            self._pending = []
            first_lsn = self._durable_lsn + 1
        segment = self._segment
        data = encode_group(batch, first_lsn, segment.salt)
        try:
            write_all(self._syscalls, segment.fd, data)
        except OSError as error:
            self._undo_write(batch, error)
        try:
            self._syscalls.fdatasync(segment.fd)
        except OSError as error:
            raise self._die(
                f"fdatasync of journal segment {segment.path} failed ({error}); records "
                f"{first_lsn}..{first_lsn + len(batch) - 1} may not be on disk and a failed "
                "fsync is never retried: stop, and recover on restart"
            ) from error
        with self._changed:
            self._end += len(data)
            self._durable_lsn = first_lsn + len(batch) - 1
            self.records_written += len(batch)
            self.commits += 1
            self._changed.notify_all()
        if self._end >= self._segment_limit:
            self._roll()

    def _undo_write(self, batch: list[bytes], error: OSError) -> None:
        """Cut the segment back to its last good end after a failed write, then raise."""
        segment = self._segment
        try:
            self._syscalls.ftruncate(segment.fd, self._end)
        except OSError as truncate_error:
            raise self._die(
                f"writing journal segment {segment.path} failed ({error}) and cutting it back "
                f"to byte {self._end} failed too ({truncate_error}): stop, and recover on restart"
            ) from error
        with self._lock:
            self._pending = batch + self._pending
        raise JournalWriteError(
            f"writing journal segment {segment.path} failed ({error}); the partial write was "
            "undone and the records are still queued: free space or fix the disk, then retry",
            fatal=False,
        ) from error

    def _roll(self) -> None:
        """Continue in a new segment once the current one reached the size limit."""
        old = self._segment
        try:
            new = create_segment(
                self._directory, old.number + 1, self._durable_lsn + 1, self._syscalls
            )
        except OSError as error:
            raise self._die(
                f"creating journal segment {old.number + 1} in {self._directory} failed ({error})"
            ) from error
        with self._lock:
            self._segment = new
            self.bytes_in_earlier_segments += self._end
            self._end = new.size
            self.segments_created += 1
        os.close(old.fd)

    def _die(self, message: str) -> JournalWriteError:
        """Mark the writer dead for good and return the error to raise."""
        error = JournalWriteError(message, fatal=True)
        _log.error("%s", message)
        with self._changed:
            self._failed = error
            self._changed.notify_all()
        return error
