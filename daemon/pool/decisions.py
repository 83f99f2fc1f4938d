"""Supervision decisions as pure functions over plain data: no processes, no clock, no I/O.

The pool (``supervisor``) feeds them what it knows about a worker — the chunk's length, how
many outcomes arrived and when, what the worker's progress board says — and acts on the
answer. Positions are indices into a chunk's steps; times are monotonic seconds.
"""

from __future__ import annotations

import signal
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from batchd.daemon.ops.step import OpKind, Step
from batchd.daemon.pool.board import Progress

RESTART_BASE: Final = 0.1
RESTART_CAP: Final = 30.0
BIG_FILE: Final = 1 << 20


@dataclass(frozen=True, slots=True)
class InFlight:
    """The step at ``position`` of the chunk has been running since ``started``."""

    position: int
    started: float


def in_flight(
    chunk_id: int, length: int, received: int, received_at: float, progress: Progress | None
) -> InFlight | None:
    """Which step of a chunk is running, if any.

    The progress board is exact; when it is unreadable or still shows an earlier chunk, steps
    run in order, so the running step is the first without an outcome (``received``), started
    when the last outcome (or the chunk) arrived (``received_at``).
    """
    if progress is not None and progress.chunk_id == chunk_id and progress.position >= received:
        if progress.started is None or progress.position >= length:
            return None  # between two steps
        return InFlight(progress.position, progress.started)
    if received >= length:
        return None
    return InFlight(received, received_at)


def step_limit(step_timeout: float, item_timeout: float) -> float | None:
    """A step's time limit: its own, else the chunk's default; None when neither is set."""
    limit = step_timeout if step_timeout > 0 else item_timeout
    return limit if limit > 0 else None


def suffix_min_limits(limits: Sequence[float | None]) -> list[float | None]:
    """``result[i]`` = the smallest limit among steps ``i``… (None: no step has one).

    A step after the running one starts later than it, so the running step's start plus this
    is the earliest moment any remaining step can time out.
    """
    result: list[float | None] = [None] * len(limits)
    smallest: float | None = None
    for i in range(len(limits) - 1, -1, -1):
        limit = limits[i]
        if limit is not None and (smallest is None or limit < smallest):
            smallest = limit
        result[i] = smallest
    return result


def timed_out(
    flight: InFlight | None,
    limit: float | None,
    kill_grace: float,
    now: float,
    paused: float = 0.0,
) -> bool:
    """True when the running step has outlived its limit plus the grace given to the op's own
    timeout handling (a transform kills its command at ``limit``; the pool steps in after).
    ``paused``: seconds the CPU cap kept the worker stopped during the step, which do not
    count against it."""
    if flight is None or limit is None:
        return False
    return now >= flight.started + limit + kill_grace + paused


def wake_deadline(
    flight: InFlight | None, earliest_limit: float | None, kill_grace: float, paused: float = 0.0
) -> float | None:
    """When the pool must look at a busy worker again (``earliest_limit`` from
    ``suffix_min_limits`` at the running position; ``paused`` as in ``timed_out``)."""
    if flight is None or earliest_limit is None:
        return None
    return flight.started + earliest_limit + kill_grace + paused


@dataclass(frozen=True, slots=True)
class Attribution:
    """What becomes of a dead worker's chunk: the step at ``failed`` fails, the steps at
    ``returned`` go back to the scheduler (not started, or their outcome was lost)."""

    failed: int | None
    returned: tuple[int, ...]


def attribute_death(
    chunk_id: int,
    length: int,
    received: int,
    progress: Progress | None,
    *,
    timed_out_at: int | None = None,
    shutting_down: bool = False,
) -> Attribution:
    """Split a dead worker's chunk into the one step that fails and the steps handed back.

    ``received`` outcomes arrived. Only the step running at death can fail: the board names
    it; a board still showing an earlier chunk means the chunk never started. Steps between
    the last outcome received and the running one did run, but their outcomes died with the
    worker: they are handed back and run again (ops converge). When the pool killed the worker
    because the step at ``timed_out_at`` ran too long, a different step found running (the
    slow one finished just before the kill) was not at fault and is handed back; so is the
    running step when the pool killed the worker to shut down.
    """
    running: int | None
    if progress is None:
        running = received if received < length else None
    elif progress.chunk_id != chunk_id:
        running = None
    elif progress.started is not None and received <= progress.position < length:
        running = progress.position
    else:
        running = None
    if running is not None and (
        shutting_down or (timed_out_at is not None and running != timed_out_at)
    ):
        running = None
    returned = tuple(position for position in range(received, length) if position != running)
    return Attribution(running, returned)


def death_reason(pid: int, returncode: int, *, timeout: float | None = None) -> str:
    """The one-line error of the step a worker was running when it died or was killed.

    ``timeout`` is set when the pool killed the worker because the step exceeded it.
    """
    if timeout is not None:
        return f"timed out after {timeout:g} s; worker {pid} was killed"
    if returncode == -signal.SIGKILL:
        return (
            f"worker {pid} was killed with SIGKILL while running this item "
            "(by the kernel's out-of-memory killer or by someone else)"
        )
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"worker {pid} died with {name} while running this item"
    if returncode > 0:
        return f"worker {pid} exited with status {returncode} while running this item"
    return f"worker {pid} exited unexpectedly while running this item"


def corrupt_reason(pid: int, detail: str) -> str:
    """The error of the step running when a worker sent garbage and was killed for it."""
    return f"worker {pid} sent a corrupt message while running this item and was killed ({detail})"


def may_take_long(step: Step) -> bool:
    """Whether a worker should send the outcomes it holds before running ``step``: commands
    and handlers can run for minutes (or crash), and so can reading a big or unknown-size
    file; renames, deletes and mkdirs take microseconds (batching their outcomes is the point).
    """
    if step.op in (OpKind.TRANSFORM, OpKind.CALL):
        return True
    if step.op in (OpKind.COPY, OpKind.CHECKSUM):
        return step.size == 0 or step.size >= BIG_FILE
    return False


def handler_steps(steps: Sequence[Step]) -> int:
    """How many of ``steps`` ran plugin code in the worker (``call``): the only items that
    count towards recycling. The built-in ops run batchd's own code, and a transform's
    command runs in a process of its own, so neither can leave a leak in the worker."""
    return sum(1 for step in steps if step.op is OpKind.CALL)


def should_recycle(handler_items: int, recycle_after: int) -> bool:
    """True when a worker has run enough handler items to be replaced (bounds leaks in
    handlers); ``recycle_after`` <= 0 never recycles."""
    return recycle_after > 0 and handler_items >= recycle_after


def counts_as_start_failure(finished_any_item: bool, stopped_by_pool: bool) -> bool:
    """Whether a worker's death feeds the restart back-off: it died on its own before
    finishing a single item (broken interpreter, bad environment, a handler that kills every
    fresh worker). A worker that did useful work is replaced at once."""
    return not finished_any_item and not stopped_by_pool


def restart_delay(failures: int, base: float = RESTART_BASE, cap: float = RESTART_CAP) -> float:
    """Seconds to wait before the next spawn after ``failures`` start failures in a row."""
    if failures <= 0:
        return 0.0
    return min(cap, base * 2.0 ** min(failures - 1, 62))


def earliest(deadlines: Iterable[float | None]) -> float | None:
    """The soonest of the deadlines that are set, or None."""
    present = [deadline for deadline in deadlines if deadline is not None]
    return min(present) if present else None
