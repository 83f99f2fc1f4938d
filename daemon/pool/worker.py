"""The worker process: runs the chunks the pool sends, one step at a time, and reports back.

Started by the pool as ``python -m batchd.daemon.pool.worker --in-fd R --out-fd W --board-fd B
--state-dir DIR [--no-rollback] [--nice N] [--ionice CLASS --ionice-level L]
[--memory-limit-mb M] [--memory-cgroup DIR]`` in a session of its own. It talks only on the two
pipe fds (stdout is pointed at stderr, so an op or a handler that prints cannot corrupt the
protocol) and writes its progress to the shared board (``batchd.daemon.pool.board``).

Outcomes are batched (``OutcomeOutbox``) but not held behind a slow step. Between
steps the worker looks for a cancel or exit message without blocking. It exits on an exit
message or when the pool's end of the pipe closes.

At start it applies the limits that live inside it (``apply_limits``): niceness and I/O
priority, which its transform commands inherit, and, with a memory limit, an RLIMIT_DATA
backstop a margin above it (also inherited), so an allocation too big or too fast for the
pool's sampling fails with MemoryError instead of exhausting the machine; such a step fails
like one killed over the limit (``limits.backstop_outcome``).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import dataclasses
import logging
import os
import resource
import select
import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final

from batchd.daemon.ops.env import OpEnv
from batchd.daemon.ops.fs import FileSystem
from batchd.daemon.ops.handlers import HandlerRegistry
from batchd.daemon.ops.priority import nice_own_autogroup
from batchd.daemon.ops.roots import PathGuard
from batchd.daemon.ops.runner import run_step
from batchd.daemon.ops.step import ErrorKind, Outcome
from batchd.daemon.ops.undo import UndoStore
from batchd.daemon.pool import messages
from batchd.daemon.pool.board import ProgressBoard
from batchd.daemon.pool.decisions import may_take_long, step_limit
from batchd.daemon.pool.executor import Chunk
from batchd.daemon.pool.framing import FrameDecoder, encode_frame
from batchd.daemon.pool.limits import Limits, backstop_outcome
from batchd.daemon.pool.oom_watch import OomWatch

FLUSH_EVERY: Final = 128
FLUSH_INTERVAL: Final = 0.02
FLUSH_BYTES: Final = 1 << 20
READ_SIZE: Final = 1 << 20
_PR_SET_PDEATHSIG: Final = 1

log = logging.getLogger(__name__)


class OutcomeOutbox:
    """Outcomes on their way to the pool: batched, but not held behind a slow step.

    A batch goes out when a step took ``FLUSH_INTERVAL`` or more, when ``FLUSH_EVERY``
    outcomes (or ``FLUSH_BYTES``) wait, when the oldest has waited ``FLUSH_INTERVAL``, before
    a step that may take long (``decisions.may_take_long``) and before any other message.
    No helper thread: transform commands are forked with a ``preexec_fn``, which is only safe
    in a single-threaded process.
    """

    def __init__(self, out_fd: int, before_send: Callable[[], None] = lambda: None) -> None:
        self.out_fd = out_fd
        self._before_send = before_send
        self._chunk_id = -1
        self._rows: list[list[object]] = []
        self._bytes = 0
        self._oldest = 0.0

    def add(self, chunk_id: int, outcome: Outcome, took: float, now: float) -> None:
        """Queue ``outcome`` of a step of chunk ``chunk_id`` that took ``took`` seconds."""
        if self._rows and chunk_id != self._chunk_id:
            self.flush()
        if not self._rows:
            self._chunk_id = chunk_id
            self._oldest = now
        self._rows.append(outcome.to_row())
        self._bytes += 64 + len(outcome.error) + len(outcome.diagnostics) + len(outcome.result)
        if (
            took >= FLUSH_INTERVAL
            or now - self._oldest >= FLUSH_INTERVAL
            or len(self._rows) >= FLUSH_EVERY
            or self._bytes >= FLUSH_BYTES
        ):
            self.flush()

    def flush(self) -> None:
        """Send the waiting outcomes, if any."""
        if self._rows:
            # The steps' directory fsyncs, shared among them, come before their outcomes:
            # an outcome the daemon journals as DONE must describe a durable change.
            self._before_send()
            rows, self._rows, self._bytes = self._rows, [], 0
            self._write(encode_frame([messages.OUTCOMES, self._chunk_id, rows]))

    def send(self, message: list[object]) -> None:
        """Send the waiting outcomes, then ``message``."""
        self.flush()
        self._write(encode_frame(message))

    def _write(self, frame: bytes) -> None:
        data = memoryview(frame)
        while data:
            data = data[os.write(self.out_fd, data) :]


class Worker:
    """Reads chunks from ``in_fd``, runs them with ``env``, writes outcomes to ``out_fd``."""

    def __init__(
        self,
        in_fd: int,
        out_fd: int,
        board: ProgressBoard,
        env: OpEnv,
        limits: Limits | None = None,
        *,
        oom: OomWatch | None = None,
    ) -> None:
        self.in_fd = in_fd
        self.out_fd = out_fd
        self.board = board
        self.env = env
        self._decoder = FrameDecoder()
        self._inbox: deque[list[object]] = deque()
        self._closed = False
        self._poll = select.poll()  # cheaper per step than select.select
        self._poll.register(in_fd, select.POLLIN)
        self._exit_requested = False
        self._outbox = OutcomeOutbox(out_fd, env.fs.sync_pending)
        self.limits = limits or Limits()
        self.oom = oom

    def serve(self) -> None:
        """Announce readiness, then run chunks until told to exit or the pipe closes."""
        self._outbox.send([messages.HELLO, os.getpid()])
        while not self._exit_requested:
            message = self._next_message(block=True)
            if message is None:
                return
            code = message[0]
            if code == messages.CHUNK:
                self.run_chunk(messages.chunk_from_message(message))
            elif code == messages.EXIT:
                return
            # a CANCEL for a chunk that already ended: nothing to do

    def run_chunk(self, chunk: Chunk) -> None:
        """Run the steps in order; stop early on a cancel of this chunk or an exit request."""
        env = dataclasses.replace(
            self.env, batch=chunk.batch, item_timeout=step_limit(0.0, chunk.item_timeout)
        )
        chunk_id, stopped_at = chunk.chunk_id, len(chunk.steps)
        # Looked up once per chunk: the loop below runs for every item of a batch.
        publish, add, clock = self.board.publish, self._outbox.add, time.monotonic
        backstop, memory, oom = self.limits.backstop, self.limits.worker_memory, self.oom
        for position, (step, expected) in enumerate(zip(chunk.steps, chunk.expected, strict=True)):
            if self._stop_requested(chunk_id):
                stopped_at = position
                break
            slow = may_take_long(step)
            if slow:
                self._outbox.flush()
            started = clock()
            publish(chunk_id, position, started)
            try:
                if step.timeout > 0:  # the item's own limit, from the plan
                    outcome = run_step(
                        step, dataclasses.replace(env, item_timeout=step.timeout), expected
                    )
                else:
                    outcome = run_step(step, env, expected)
            except Exception as error:  # run_step never raises; if it does, fail the step only
                outcome = Outcome.failure(
                    step.index, ErrorKind.PERMANENT, f"internal error in the worker: {error!r}"
                )
            if backstop is not None:
                outcome = backstop_outcome(outcome, memory, backstop)
            if oom is not None:  # the kernel killed at the cgroup's hard limit
                outcome = oom.check(outcome, slow=slow)
            finished = clock()
            publish(chunk_id, position + 1, None)
            add(chunk_id, outcome, finished - started, finished)
        self._outbox.send([messages.DONE, chunk_id, stopped_at])

    def _stop_requested(self, chunk_id: int) -> bool:
        """Take the messages already waiting (without blocking); True on cancel or exit."""
        while True:
            message = self._next_message(block=False)
            if message is None:
                return self._exit_requested or self._closed
            code = message[0]
            if code == messages.EXIT:
                self._exit_requested = True
            elif code == messages.CANCEL and message[1] == chunk_id:
                return True
            elif code == messages.CHUNK:  # the pool never sends one to a busy worker
                self._inbox.appendleft(message)
                return self._exit_requested

    def _next_message(self, *, block: bool) -> list[object] | None:
        while not self._inbox:
            if self._closed:
                return None
            if not block and not self._poll.poll(0):  # readable, or the pipe closed
                return None
            data = os.read(self.in_fd, READ_SIZE)
            if not data:
                self._closed = True
                return None
            for message in self._decoder.feed(data):
                assert isinstance(message, list)
                self._inbox.append(message)
        return self._inbox.popleft()


def _die_with_parent() -> None:
    """Ask the kernel to kill this worker when the daemon dies (the pool is single-threaded,
    so 'the thread that forked us' is the daemon itself)."""
    parent = os.getppid()
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(0)  # the daemon died before prctl took effect


def _parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="batchd-worker", description=__doc__)
    parser.add_argument("--in-fd", type=int, required=True)
    parser.add_argument("--out-fd", type=int, required=True)
    parser.add_argument("--board-fd", type=int, required=True)
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--no-rollback", action="store_true")
    parser.add_argument("--nice", type=int, default=0)
    parser.add_argument("--ionice", choices=("none", "best-effort", "idle"), default="none")
    parser.add_argument("--ionice-level", type=int, default=7)
    parser.add_argument("--memory-limit-mb", type=int, default=0)
    parser.add_argument("--memory-cgroup", type=Path, default=None)
    return parser.parse_args(argv)


def apply_limits(limits: Limits) -> None:
    """Lower this process's CPU and I/O priority and set the memory backstop; its children
    (transform commands) inherit all three. A setting the system refuses is logged, not fatal:
    a worker at normal priority is better than no worker."""
    import psutil  # only here: the worker's start-up stays lean without an I/O class

    try:
        if limits.nice:
            os.nice(limits.nice)
            nice_own_autogroup()  # the worker's session is its own scheduling group
        if limits.ionice_class == "best-effort":
            psutil.Process().ionice(psutil.IOPRIO_CLASS_BE, limits.ionice_level)
        elif limits.ionice_class == "idle":
            psutil.Process().ionice(psutil.IOPRIO_CLASS_IDLE)
    except (OSError, psutil.Error) as error:
        log.warning("worker %d: cannot lower its priority: %s", os.getpid(), error)
    backstop = limits.backstop
    if backstop is not None:
        try:
            resource.setrlimit(resource.RLIMIT_DATA, (backstop, backstop))
        except (OSError, ValueError) as error:
            log.warning("worker %d: cannot set RLIMIT_DATA: %s", os.getpid(), error)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m batchd.daemon.pool.worker``."""
    args = _parse(sys.argv[1:] if argv is None else argv)
    _die_with_parent()
    for fd in (args.in_fd, args.out_fd, args.board_fd):
        os.set_inheritable(fd, False)  # commands and handlers' children must not hold them
    # Prints from ops and handlers go to stderr; fd 1 must never be a protocol channel.
    os.dup2(2, 1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the daemon decides when workers stop
    limits = Limits(
        nice=args.nice,
        ionice_class=args.ionice,
        ionice_level=args.ionice_level,
        worker_memory_mb=args.memory_limit_mb,
    )
    apply_limits(limits)
    fs = FileSystem(share_dir_syncs=True, guard=PathGuard.from_environment())
    env = OpEnv(
        fs=fs,
        undo=UndoStore(args.state_dir / "undo", fs),
        batch=0,
        enable_rollback=not args.no_rollback,
        handlers=HandlerRegistry(),
    )
    oom = None if args.memory_cgroup is None else OomWatch(args.memory_cgroup)
    worker = Worker(args.in_fd, args.out_fd, ProgressBoard(args.board_fd), env, limits, oom=oom)
    try:
        worker.serve()
    except BrokenPipeError:
        return 0  # the daemon went away; nothing left to report to
    return 0


if __name__ == "__main__":
    sys.exit(main())
