"""transform: run ``step.command`` as a filter over a regular file and replace it by the output.

The command (an argv list, never a shell) gets the original on stdin and writes the new
content to stdout, which goes into the step's temp beside the target; stderr is captured up
to ``env.stderr_limit`` bytes. It runs in its own session (process group) with
``PR_SET_PDEATHSIG=SIGKILL``, so a dying worker takes it along; at ``env.item_timeout`` —
and in any case once the command has exited — the whole group is killed, so a background
child can neither hang the item nor keep writing into the temp.

Non-zero exit → permanent failure, the file untouched, the temp removed; timeout →
transient. If the original changed while the command read it (inode, size, mtime or ctime
differ) → transient, untouched. Otherwise: the original is hardlinked into the undo store
(rollback on; its other hard links keep the old content too), the temp gets the original's
mode (and owner, as root) and is fsynced, and the one visible syscall ``rename(temp, target)``
replaces the target; the parent is fsynced.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import os
import selectors
import signal
import stat
import subprocess
import time
from dataclasses import dataclass
from typing import Final

from batchd.daemon.ops.env import Intent, OpEnv
from batchd.daemon.ops.errors import OpFailed, refused, show, vanished
from batchd.daemon.ops.names import temp_beside
from batchd.daemon.ops.outcomes import ALREADY_DONE, fingerprint_or_none, succeeded
from batchd.daemon.ops.priority import nice_own_autogroup
from batchd.daemon.ops.step import ErrorKind, Fingerprint, Outcome, Step

_PR_SET_PDEATHSIG: Final = 1
_libc = ctypes.CDLL(None, use_errno=True)  # loaded before any fork: preexec_fn must not load


def _die_with_parent() -> None:
    """In the child, before exec: get SIGKILL when the worker that started us dies, and keep
    the worker's low CPU priority in the command's new session."""
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    nice_own_autogroup()


@dataclass(frozen=True, slots=True)
class Finished:
    """How a command ended: exit status (negative: killed by that signal), captured stderr."""

    status: int
    stderr: str
    timed_out: bool


def run(step: Step, env: OpEnv, expected: Fingerprint | None = None) -> Outcome:
    """Transform ``step.path`` through ``step.command``."""
    fs, path = env.fs, step.path
    if not step.command:
        raise refused("transform has no command", path)
    try:
        info = fs.lstat(path)
    except FileNotFoundError:
        raise vanished(path) from None
    if stat.S_ISLNK(info.st_mode):
        raise refused("is a symbolic link; transform never follows links (name its target)", path)
    if not stat.S_ISREG(info.st_mode):
        raise refused("is not a regular file; transform filters regular files only", path)
    temp = temp_beside(path, env.batch, step.index)
    fs.discard(temp)
    try:
        finished = _filter_into(step, env, info, temp)
        undo = None
        if env.enable_rollback:
            undo = env.undo.keep(path, env.batch, step.index, will_replace=True).entry
        temp_post = Fingerprint.of(fs.lstat(temp))
        env.intent(step, Intent(step.index, "replace", Fingerprint.of(info), temp, temp_post, undo))
    except Exception:
        fs.discard(temp)
        raise
    fs.rename(temp, path)
    fs.fsync_parent(path)
    return dataclasses.replace(succeeded(step, env, path), diagnostics=finished.stderr)


def converged(
    step: Step, env: OpEnv, expected: Fingerprint, current: Fingerprint | None
) -> Outcome | None:
    """Done when the undo store holds the planned original and the target holds another inode."""
    if current is None or not env.enable_rollback:
        return None
    kept = fingerprint_or_none(env, env.undo.path_for(env.batch, step.index))
    if kept is not None and kept.same_inode(expected) and not current.same_inode(expected):
        env.fs.discard(temp_beside(step.path, env.batch, step.index))
        return succeeded(step, env, step.path, ALREADY_DONE)
    return None


def _filter_into(step: Step, env: OpEnv, info: os.stat_result, temp: bytes) -> Finished:
    """Run the command from the original into ``temp``; fsync temp; raise OpFailed if the
    command failed or the original changed meanwhile."""
    fs, path = env.fs, step.path
    src_fd = fs.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        opened = fs.fstat(src_fd)
        out_fd = fs.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            fs.hook("exec", path)
            finished = _run_command(step, env, src_fd, out_fd)
            after = fs.fstat(src_fd)
            current = fs.lstat(path)
            if finished.timed_out:
                raise OpFailed(
                    ErrorKind.TRANSIENT,
                    f"transform command timed out after {env.item_timeout:g} s: {show(path)}",
                    finished.stderr,
                )
            if finished.status != 0:
                raise OpFailed(
                    ErrorKind.PERMANENT,
                    f"transform command {_ended(finished.status)}: {show(path)} "
                    "(left untouched; see the diagnostics for its stderr)",
                    finished.stderr,
                )
            if not (_same_state(info, opened) and _same_state(opened, after)) or (
                (current.st_dev, current.st_ino) != (opened.st_dev, opened.st_ino)
            ):
                raise OpFailed(
                    ErrorKind.TRANSIENT,
                    f"file changed while the transform command read it: {show(path)} "
                    "(left untouched; the item will be retried)",
                    finished.stderr,
                )
            if os.geteuid() == 0:
                fs.fchown(out_fd, info.st_uid, info.st_gid)
            fs.fchmod(out_fd, info.st_mode)
            fs.fsync(out_fd)
        finally:
            os.close(out_fd)
    finally:
        os.close(src_fd)
    return finished


def _same_state(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_dev, a.st_ino, a.st_size, a.st_mtime_ns, a.st_ctime_ns) == (
        b.st_dev,
        b.st_ino,
        b.st_size,
        b.st_mtime_ns,
        b.st_ctime_ns,
    )


def _ended(status: int) -> str:
    if status < 0:
        try:
            name = signal.Signals(-status).name
        except ValueError:
            name = f"signal {-status}"
        return f"was killed by {name}"
    return f"exited with status {status}"


def _run_command(step: Step, env: OpEnv, stdin_fd: int, stdout_fd: int) -> Finished:
    """Start the command in its own session, collect bounded stderr, wait until it exits or
    the timeout passes, then kill its whole process group."""
    try:
        process = subprocess.Popen(
            list(step.command),
            stdin=stdin_fd,
            stdout=stdout_fd,
            stderr=subprocess.PIPE,
            start_new_session=True,
            preexec_fn=_die_with_parent,  # noqa: PLW1509 -- workers are single-threaded
        )
    except OSError as exc:
        raise OpFailed(
            ErrorKind.PERMANENT,
            f"transform command {step.command[0]!r} could not be started: "
            f"{os.strerror(exc.errno or 0).lower()}",
        ) from None
    assert process.stderr is not None
    collector = _Stderr(env.stderr_limit)
    timed_out = False
    try:
        timed_out = not _wait(process, collector, env.item_timeout)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        collector.drain(process.stderr.fileno())
        process.stderr.close()
    return Finished(process.returncode, collector.text(), timed_out)


def _wait(process: subprocess.Popen[bytes], collector: _Stderr, timeout: float | None) -> bool:
    """Read stderr until the process exits (True) or the timeout passes (False)."""
    assert process.stderr is not None
    err_fd = process.stderr.fileno()
    os.set_blocking(err_fd, False)
    deadline = None if timeout is None else time.monotonic() + timeout
    pidfd = os.pidfd_open(process.pid)
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(pidfd, selectors.EVENT_READ)
            selector.register(err_fd, selectors.EVENT_READ)
            while True:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                for key, _ in selector.select(remaining):
                    if key.fd == pidfd:
                        return True
                    if not collector.read(err_fd):
                        selector.unregister(err_fd)
    finally:
        os.close(pidfd)


class _Stderr:
    """Keeps the first ``limit`` bytes of a stream and counts the rest."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.kept = bytearray()
        self.dropped = 0

    def read(self, fd: int) -> bool:
        """Read what is available; False at end of stream."""
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return True
        room = self.limit - len(self.kept)
        self.kept += data[:room]
        self.dropped += max(0, len(data) - room)
        return bool(data)

    def drain(self, fd: int) -> None:
        """Read whatever is left without blocking (bounded: a writer outside the killed
        process group could otherwise keep us here)."""
        for _ in range(64):
            if not (self._pending(fd) and self.read(fd)):
                return

    def _pending(self, fd: int) -> bool:
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            return bool(selector.select(0))

    def text(self) -> str:
        """The kept bytes as text, with a note of how much was dropped."""
        text = self.kept.decode("utf-8", "replace")
        if self.dropped:
            text += f"\n[{self.dropped} more bytes of stderr dropped]"
        return text
