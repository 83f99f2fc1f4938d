"""The interface between the daemon and whatever runs its steps, and the data it exchanges.

The daemon's loop is single-threaded: it polls ``fds()`` (readable = something to collect)
together with its sockets, sleeps no later than ``next_deadline()``, then calls the
non-blocking methods. The local process pool (``batchd.daemon.pool.supervisor.WorkerPool``) is
the first implementation; a remote one (a Dask cluster over shared storage) fits the same
shape. Execution is at-least-once: a step whose outcome was lost is handed back and runs
again, which is safe because every op converges.

Per chunk, ``collect`` reports each step exactly once, either as an ``ItemFinished`` or inside
a ``StepsReturned``, and then one ``ChunkFinished``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

from batchd.daemon.ops.step import Fingerprint, Outcome, Step


@dataclass(frozen=True, slots=True)
class Chunk:
    """Steps of one batch that run in order on one worker, in one message.

    ``expected[i]`` is the fingerprint step ``i``'s path must still have (None: no check);
    ``item_timeout`` is the default time limit of a step whose own ``timeout`` is 0, in
    seconds (0 or less: none).
    """

    chunk_id: int
    batch: int
    steps: tuple[Step, ...]
    expected: tuple[Fingerprint | None, ...]
    item_timeout: float

    def __post_init__(self) -> None:
        if len(self.expected) != len(self.steps):
            raise ValueError(
                f"chunk {self.chunk_id} has {len(self.steps)} steps "
                f"but {len(self.expected)} expected fingerprints"
            )


@dataclass(frozen=True, slots=True)
class ItemFinished:
    """A step ran; ``outcome`` says how (a dead or killed worker's step fails TRANSIENT)."""

    batch: int
    chunk_id: int
    outcome: Outcome


@dataclass(frozen=True, slots=True)
class StepsReturned:
    """Steps handed back without a result: never started (cancel, shutdown, worker died
    before them) or their outcome was lost; the scheduler re-queues them without counting an
    attempt."""

    batch: int
    chunk_id: int
    steps: tuple[Step, ...]


@dataclass(frozen=True, slots=True)
class ChunkFinished:
    """Every step of the chunk has been reported; the executor holds nothing of it anymore."""

    batch: int
    chunk_id: int


ExecutorEvent = ItemFinished | StepsReturned | ChunkFinished


class WorkerState(enum.Enum):
    """What a worker is doing, as ``batchctl stats`` shows it."""

    IDLE = "idle"
    BUSY = "busy"
    STARTING = "starting"
    STOPPING = "stopping"


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """One worker as seen by the executor. ``item`` is the batch index of the step in flight
    and ``item_started`` its monotonic start time.

    From the resource limits' samples of the worker and its descendants (its commands):
    ``rss`` (bytes, summed: an upper bound), ``pss`` (bytes, the figure memory limits use;
    None unless a limit needed it), ``cpu_percent`` (of the whole machine, over the last
    sampling period; None without a CPU or memory limit) and ``stopped`` (held by the CPU
    cap's duty cycle right now).
    """

    pid: int
    state: WorkerState
    batch: int | None = None
    item: int | None = None
    item_started: float | None = None
    items_done: int = 0
    rss: int | None = None
    pss: int | None = None
    cpu_percent: float | None = None
    stopped: bool = False


class Executor(Protocol):
    """Runs chunks of steps somewhere and reports their outcomes; never blocks the caller
    (except ``shutdown``)."""

    def capacity(self) -> int:
        """How many chunks ``submit`` accepts right now."""
        ...

    def submit(self, chunk: Chunk) -> None:
        """Start ``chunk``; raises RuntimeError when ``capacity()`` is 0."""
        ...

    def fds(self) -> list[int]:
        """File descriptors to poll for reading; one becoming readable means: call collect."""
        ...

    def collect(self, now: float) -> list[ExecutorEvent]:
        """Take everything available, enforce time limits, replace dead workers."""
        ...

    def next_deadline(self) -> float | None:
        """The monotonic time by which ``collect`` must be called again, or None."""
        ...

    def cancel(self, batch: int) -> None:
        """Skip the not-yet-started steps of ``batch``; they come back as StepsReturned."""
        ...

    def workers(self) -> list[WorkerInfo]:
        """A snapshot of every worker."""
        ...

    def resize(self, size: int) -> None:
        """Run ``size`` workers from now on (busy ones above it stop after their chunk)."""
        ...

    def shutdown(self, grace: float) -> list[ExecutorEvent]:
        """Take no more work, let in-flight steps finish within ``grace`` seconds, stop every
        worker (killing what is left) and return the last events. Blocks up to ``grace``."""
        ...
