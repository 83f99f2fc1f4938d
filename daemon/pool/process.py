"""One worker process as the pool sees it: its pipes, its board, its pidfd, and the syscalls
to start, feed, read, kill and reap it — all non-blocking. No supervision decisions here."""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import psutil

from batchd.daemon.pool.board import ProgressBoard
from batchd.daemon.pool.framing import FrameDecoder
from batchd.daemon.pool.limits import Limits

PIPE_SIZE: Final = 1 << 20
READ_SIZE: Final = 1 << 16
READ_BUDGET: Final = 4 << 20  # per worker per collect, so one chatty worker cannot starve the loop


@dataclass(frozen=True, slots=True)
class WorkerCommand:
    """How to start a worker: interpreter, options and environment (None: inherit)."""

    python: str
    options: tuple[str, ...]
    env: Mapping[str, str] | None

    def with_limits(self, limits: Limits) -> WorkerCommand:
        """This command plus the options that make the worker apply ``limits`` itself
        (niceness, I/O priority, the memory backstop)."""
        options = list(self.options)
        if limits.nice:
            options += ["--nice", str(limits.nice)]
        if limits.ionice_class != "none":
            level = str(limits.ionice_level)
            options += ["--ionice", limits.ionice_class, "--ionice-level", level]
        if limits.worker_memory_mb:
            options += ["--memory-limit-mb", str(limits.worker_memory_mb)]
        return WorkerCommand(self.python, tuple(options), self.env)

    def in_group(self, group: Path | None) -> WorkerCommand:
        """This command for a worker that runs in the memory cgroup ``group`` (None: none)."""
        if group is None:
            return self
        options = (*self.options, "--memory-cgroup", os.fspath(group))
        return WorkerCommand(self.python, options, self.env)


@dataclass(eq=False)
class WorkerProcess:
    """A started worker: ``to_fd``/``from_fd`` are the pool's (non-blocking) pipe ends."""

    proc: subprocess.Popen[bytes]
    to_fd: int
    from_fd: int
    board: ProgressBoard
    pidfd: int | None
    decoder: FrameDecoder = field(default_factory=FrameDecoder)
    outbox: bytearray = field(default_factory=bytearray)
    eof: bool = False

    @property
    def pid(self) -> int:
        """The worker's pid, which is also its process group id."""
        return self.proc.pid

    @classmethod
    def start(cls, command: WorkerCommand) -> WorkerProcess:
        """Fork and exec a worker in a new session; raises OSError when that fails."""
        to_read, to_write = os.pipe2(os.O_CLOEXEC)
        from_read, from_write = os.pipe2(os.O_CLOEXEC)
        board = ProgressBoard.create()
        try:
            with contextlib.suppress(OSError):  # a bigger pipe is an optimisation only
                fcntl.fcntl(to_write, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
            argv: Sequence[str] = [
                command.python, "-m", "batchd.daemon.pool.worker",
                "--in-fd", str(to_read), "--out-fd", str(from_write),
                "--board-fd", str(board.fd), *command.options,
            ]  # fmt: skip
            proc = subprocess.Popen(
                argv,
                pass_fds=(to_read, from_write, board.fd),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                start_new_session=True,
                env=None if command.env is None else dict(command.env),
            )
        except BaseException:
            for fd in (to_read, to_write, from_read, from_write):
                os.close(fd)
            board.close()
            raise
        os.close(to_read)
        os.close(from_write)
        os.set_blocking(to_write, False)
        os.set_blocking(from_read, False)
        try:
            pidfd: int | None = os.pidfd_open(proc.pid)
        except OSError:  # kernels before 5.3: the pool polls instead
            pidfd = None
        return cls(proc, to_write, from_read, board, pidfd)

    def send(self, frame: bytes) -> None:
        """Queue ``frame`` and write as much as the pipe takes now."""
        self.outbox += frame
        self.flush()

    def flush(self) -> None:
        """Write queued bytes without blocking; a dead reader's data is dropped."""
        while self.outbox:
            try:
                written = os.write(self.to_fd, self.outbox)
            except BlockingIOError:
                return
            except OSError:  # EPIPE: the worker is gone; its death is handled when reaped
                self.outbox.clear()
                return
            del self.outbox[:written]

    def read_available(self) -> bytes:
        """Everything readable now (up to a budget); sets ``eof`` when the worker closed."""
        parts: list[bytes] = []
        total = 0
        while not self.eof and total < READ_BUDGET:
            try:
                data = os.read(self.from_fd, READ_SIZE)
            except BlockingIOError:
                break
            if not data:
                self.eof = True
                break
            parts.append(data)
            total += len(data)
        return b"".join(parts)

    def kill(self) -> None:
        """SIGKILL the worker's process group and the groups of all its descendants.

        Transform commands run in sessions of their own, so killing the worker's group alone
        would orphan a command's background children. Only called before the worker is
        reaped, so its pid (and group id) cannot have been reused.
        """
        groups = {self.pid}
        with contextlib.suppress(psutil.Error):
            for child in psutil.Process(self.pid).children(recursive=True):
                with contextlib.suppress(OSError):
                    groups.add(os.getpgid(child.pid))
        groups.discard(os.getpgrp())  # never the daemon's own group
        for group in groups:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(group, signal.SIGKILL)

    def exited(self) -> bool:
        """True when the worker has exited (not reaped yet: its pid stays reserved)."""
        if self.proc.returncode is not None:
            return True
        try:
            result = os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return True
        return result is not None

    def reap(self) -> int:
        """Kill what is left of the process group, collect the exit status, close the fds.

        Returns the status as ``Popen.returncode`` gives it (negative: the signal).
        """
        self.kill()
        returncode = self.proc.wait()
        # Whatever the worker wrote before dying is still in the pipe: the caller reads it
        # before close() via read_available().
        return returncode

    def close(self) -> None:
        """Release the fds and the board (after the last read)."""
        for fd in (self.to_fd, self.from_fd, self.pidfd):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.board.close()


def wait_readable(fds: Sequence[int], timeout: float) -> None:
    """Sleep until one of ``fds`` is readable or ``timeout`` seconds passed."""
    poller = select.poll()
    for fd in fds:
        poller.register(fd, select.POLLIN)
    poller.poll(max(0, int(timeout * 1000)))
