"""Plan uploads: spool the streamed plan to disk, validate it in a child process, report.

A plan arrives as ordered chunks of raw bytes (``submit_chunk``), is spooled to
``<state>/uploads/<id>.jsonl`` and fsynced at ``submit_end``; then a validator process
(``batchd.daemon.batches.validator``) reads it, writes the validated plan store into the
batch's directory and a summary file. Validation runs outside the daemon so that a million-
line plan neither blocks the main loop nor grows the daemon's memory.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import subprocess
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, cast

import msgpack

from batchd.daemon.batches.summary import (
    PREVIEW_STEPS,
    PROBLEMS_SHOWN,
    SUMMARY_NAME,
)
from batchd.daemon.batches.upload_limits import (
    ClientQuota,
    count_items,
    quota_exceeded,
    too_many_items,
)
from batchd.daemon.batches.validator_launcher import ValidatorLauncher
from batchd.protocol.batch_messages import (
    PlannedStep,
    Problem,
    SubmitBeginReply,
    SubmitBeginRequest,
    SubmitChunkReply,
    SubmitChunkRequest,
    UploadState,
    UploadStatusReply,
)
from batchd.protocol.errors import InvalidArguments, Unavailable

log = logging.getLogger(__name__)

CHUNK_BYTES: Final = 1024 * 1024
MAX_UPLOADS: Final = 16
IDLE_EXPIRY: Final = 600.0


_IN_PROGRESS: Final = frozenset({UploadState.RECEIVING, UploadState.VALIDATING})


@dataclass
class Upload:
    """One plan upload from submit_begin to its verdict."""

    id: str
    name: str
    cwd: bytes
    dry_run: bool
    priority: int
    spool: Path
    out_dir: Path
    touched: float
    client: str = ""
    submitter: str = ""
    """Who submitted it, for the log and the history (``uid 1000 (pid 4242)``)."""
    """Who opened it (``Peer.client_key``), for the per-client cap."""
    max_items: int = 0
    """The most plan items (non-blank lines) accepted; 0: no limit."""
    items: int = 0
    line_open: bool = False
    """Whether the last, unterminated line received so far has content."""
    fd: int | None = None
    received: int = 0
    next_seq: int = 0
    state: UploadState = UploadState.RECEIVING
    batch: int | None = None
    total: int = 0
    problem_count: int = 0
    problems: tuple[Problem, ...] = ()
    preview: tuple[PlannedStep, ...] = ()
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def status(self) -> UploadStatusReply:
        """The reply to ``submit_end`` / ``upload_status``."""
        batch = self.batch if self.state is UploadState.ACCEPTED else None
        return UploadStatusReply(
            upload=self.id,
            state=self.state,
            batch=batch,
            total=self.total,
            problem_count=self.problem_count,
            problems=self.problems,
            preview=self.preview,
        )


class Uploads:
    """All uploads in progress; the daemon's loop polls ``fds`` and calls ``reap``."""

    def __init__(self, state_dir: Path) -> None:
        self.spool_dir = state_dir / "uploads"
        self.batches_dir = state_dir / "batches"
        for directory in (self.spool_dir, self.batches_dir):
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        for stale in self.spool_dir.iterdir():  # uploads do not survive a restart
            _remove(stale)
        self._uploads: dict[str, Upload] = {}
        self._owners: dict[int, str] = {}
        """Who submitted each batch accepted since the start (not journaled)."""
        self._launcher = ValidatorLauncher()

    def begin(
        self,
        request: SubmitBeginRequest,
        now: float,
        *,
        client: str = "",
        max_items: int = 0,
        quota: ClientQuota | None = None,
    ) -> SubmitBeginReply:
        """Open an upload for ``client``; refuse it when the client already has its quota of
        uploads and active batches, or too many uploads are in progress."""
        busy = [u for u in self._uploads.values() if u.state in _IN_PROGRESS]
        if len(busy) >= MAX_UPLOADS:
            raise Unavailable(f"too many plan uploads in progress ({MAX_UPLOADS}); retry later")
        if quota is not None:
            used = self.in_use_by(client, quota.active_batches)
            if used >= quota.limit:
                raise quota_exceeded(quota, used)
        if not os.path.isabs(request.cwd):
            raise InvalidArguments(f"cwd must be an absolute path, got {request.cwd!r}")
        upload_id = secrets.token_hex(8)
        spool = self.spool_dir / f"{upload_id}.jsonl"
        upload = Upload(
            id=upload_id,
            name=request.name,
            cwd=request.cwd,
            dry_run=request.dry_run,
            priority=request.priority,
            spool=spool,
            out_dir=self.spool_dir / f"{upload_id}.check",
            touched=now,
            client=client,
            max_items=max_items,
        )
        upload.fd = os.open(spool, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        self._uploads[upload_id] = upload
        self._launcher.warm()  # its start-up overlaps the upload
        return SubmitBeginReply(upload=upload_id, chunk_bytes=CHUNK_BYTES)

    def chunk(self, request: SubmitChunkRequest, now: float) -> SubmitChunkReply:
        """Append one chunk; chunks must come in order (a repeat of the last one is ignored,
        so a client may resend after a timeout)."""
        upload = self.get(request.upload)
        if upload.state is not UploadState.RECEIVING or upload.fd is None:
            raise InvalidArguments(f"upload {upload.id} is already closed")
        if len(request.data) > CHUNK_BYTES:
            raise InvalidArguments(f"a chunk carries at most {CHUNK_BYTES} bytes")
        if request.seq == upload.next_seq - 1:
            return SubmitChunkReply(upload.id, upload.received)
        if request.seq != upload.next_seq:
            raise InvalidArguments(
                f"upload {upload.id}: expected chunk {upload.next_seq}, got {request.seq}"
            )
        upload.items, upload.line_open = count_items(upload.items, upload.line_open, request.data)
        self._check_items(upload)
        view = memoryview(request.data)
        while view:
            view = view[os.write(upload.fd, view) :]
        upload.received += len(request.data)
        upload.next_seq += 1
        upload.touched = now
        return SubmitChunkReply(upload.id, upload.received)

    def end(self, upload_id: str, batch_id: int | None, handlers: list[str], now: float) -> Upload:
        """Close the spool durably and start its validator; ``batch_id`` is reserved for it
        (None for a dry run)."""
        upload = self.get(upload_id)
        if upload.state is not UploadState.RECEIVING or upload.fd is None:
            return upload
        if upload.line_open:  # the last line had no newline
            upload.items, upload.line_open = upload.items + 1, False
            self._check_items(upload)
        os.fsync(upload.fd)
        os.close(upload.fd)
        upload.fd = None
        upload.batch = batch_id
        if batch_id is not None:
            upload.out_dir = self.batches_dir / str(batch_id)
        upload.state = UploadState.VALIDATING
        upload.touched = now
        arguments = [
            "--plan",
            str(upload.spool),
            "--cwd",
            upload.cwd.hex(),
            "--out",
            str(upload.out_dir),
            "--batch",
            str(batch_id or 0),
            "--handlers",
            ",".join(handlers),
        ]
        if upload.dry_run:
            arguments.append("--dry-run")
        upload.process = self._launcher.start(arguments)
        return upload

    def get(self, upload_id: str, now: float | None = None) -> Upload:
        """An upload by id (``now`` marks it as still wanted); raises InvalidArguments for an
        unknown one."""
        upload = self._uploads.get(upload_id)
        if upload is None:
            raise InvalidArguments(f"no plan upload {upload_id!r} (it may have expired)")
        if now is not None:
            upload.touched = now
        return upload

    def fds(self) -> list[int]:
        """Pipes of running validators: readable (EOF) when one finishes."""
        return [
            u.process.stdout.fileno()
            for u in self._uploads.values()
            if u.process is not None and u.process.stdout is not None
        ]

    def reap(self, now: float) -> list[Upload]:
        """Collect finished validators; returns uploads whose plan turned out valid and not
        a dry run (the caller creates the batch, then calls ``accept``)."""
        valid: list[Upload] = []
        for upload in list(self._uploads.values()):
            process = upload.process
            if process is None or process.poll() is None:
                continue
            _, stderr = process.communicate()
            upload.process = None
            upload.touched = now
            if self._read_summary(upload, process.returncode, stderr):
                valid.append(upload)
        return valid

    def accept(self, upload: Upload) -> None:
        """The batch exists and is journaled: report it."""
        upload.state = UploadState.ACCEPTED
        if upload.batch is not None and upload.client:
            self._owners[upload.batch] = upload.client
        _remove(upload.spool)

    def in_use_by(self, client: str, active_batches: Collection[int]) -> int:
        """Uploads in progress plus active batches (among ``active_batches``) of ``client``;
        forgets the owners of batches that ended."""
        for batch in [b for b in self._owners if b not in active_batches]:
            del self._owners[batch]
        uploading = sum(
            1 for u in self._uploads.values() if u.client == client and u.state in _IN_PROGRESS
        )
        return uploading + sum(1 for owner in self._owners.values() if owner == client)

    def _check_items(self, upload: Upload) -> None:
        """Refuse (and drop) an upload with more items than its limit."""
        if upload.max_items and upload.items > upload.max_items:
            self.discard(upload)
            raise too_many_items(upload.id, upload.max_items)

    def expire(self, now: float) -> None:
        """Forget uploads idle for too long (a client that went away)."""
        for upload in list(self._uploads.values()):
            if upload.process is None and now - upload.touched > IDLE_EXPIRY:
                self.discard(upload)

    def discard(self, upload: Upload) -> None:
        """Drop an upload and its files (a validated batch directory stays)."""
        self._uploads.pop(upload.id, None)
        if upload.fd is not None:
            os.close(upload.fd)
        if upload.process is not None:
            upload.process.kill()
            upload.process.wait()
        _remove(upload.spool)
        if upload.state is not UploadState.ACCEPTED:
            _remove(upload.out_dir)

    def close(self) -> None:
        """Stop every validator and drop every upload (daemon shutdown)."""
        for upload in list(self._uploads.values()):
            self.discard(upload)
        self._launcher.close()

    def _read_summary(self, upload: Upload, status: int, stderr: bytes) -> bool:
        try:
            summary = msgpack.unpackb((upload.out_dir / SUMMARY_NAME).read_bytes(), raw=False)
        except (OSError, ValueError) as exc:
            reason = stderr.decode(errors="replace").strip().splitlines()[-1:] or [str(exc)]
            log.error("validator of upload %s failed (status %s): %s", upload.id, status, reason)
            upload.state = UploadState.INVALID
            upload.problem_count = 1
            upload.problems = (Problem(0, f"validation failed: {reason[0]}"),)
            return False
        valid, total, problem_count, problems, preview = cast(
            tuple[bool, int, int, list[list[object]], list[list[object]]], summary
        )
        upload.total = total
        upload.problem_count = problem_count
        upload.problems = tuple(Problem(*p) for p in problems[:PROBLEMS_SHOWN])  # type: ignore[arg-type]
        upload.preview = tuple(PlannedStep(*p) for p in preview[:PREVIEW_STEPS])  # type: ignore[arg-type]
        if not valid:
            upload.state = UploadState.INVALID
            return False
        if upload.dry_run:
            upload.state = UploadState.CHECKED
            return False
        return True


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
