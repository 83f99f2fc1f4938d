"""Fixtures for the pool tests: a fake handler distribution and a driven WorkerPool."""

from __future__ import annotations

import os
import select
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from batchd.daemon.ops.step import OpKind, Outcome, Step
from batchd.daemon.pool.executor import (
    Chunk,
    ChunkFinished,
    ExecutorEvent,
    ItemFinished,
    StepsReturned,
)
from batchd.daemon.pool.supervisor import WorkerPool

HANDLERS = textwrap.dedent(
    """
    import os, sys, time

    class Handler:
        def paths(self, path, args):
            return []

    class Abort(Handler):
        def run(self, path, args):
            os.abort()

    class Raise(Handler):
        def run(self, path, args):
            raise RuntimeError("handler exploded on purpose")

    class Sleep(Handler):
        def run(self, path, args):
            if "mark" in args:
                open(args["mark"], "w").close()
            time.sleep(float(args.get("seconds", 1000)))
            return "slept"

    class Exit3(Handler):
        def run(self, path, args):
            os._exit(3)

    class Noisy(Handler):
        def run(self, path, args):
            print("a handler printing to stdout " * 100, flush=True)
            return "printed"

    class Garbage(Handler):
        def run(self, path, args):
            out = int(sys.argv[sys.argv.index("--out-fd") + 1])
            os.write(out, b"\\x00\\x00\\x00\\x03\\xc1\\xc1\\xc1")
            time.sleep(1000)

    class Hog(Handler):
        # Allocates args["mib"] MiB (every page written), then sleeps args["seconds"].
        def run(self, path, args):
            held = b"\x01" * (int(args["mib"]) << 20)
            time.sleep(float(args.get("seconds", 0)))
            return f"held {len(held) >> 20} MiB"

    abort, fail, sleep, exit3 = Abort(), Raise(), Sleep(), Exit3()
    noisy, garbage, hog = Noisy(), Garbage(), Hog()
    """
)

ENTRY_POINTS = "[batchd.handlers]\n" + "".join(
    f"{name} = testhandlers_mod:{name}\n"
    for name in ("abort", "fail", "sleep", "exit3", "noisy", "garbage", "hog")
)


@pytest.fixture
def handler_env(tmp_path: Path) -> dict[str, str]:
    """A worker environment in which the test handlers are installed (a real entry point)."""
    site = tmp_path / "site"
    info = site / "testhandlers-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: testhandlers\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    (site / "testhandlers_mod.py").write_text(HANDLERS)
    return {**os.environ, "PYTHONPATH": str(site)}


class Driver:
    """A miniature daemon loop around a pool: poll its fds until a deadline, collect."""

    def __init__(self, pool: WorkerPool) -> None:
        self.pool = pool
        self.outcomes: dict[int, Outcome] = {}
        self.returned: list[Step] = []
        self.finished: list[int] = []
        self.events: list[ExecutorEvent] = []

    def turn(self, limit: float) -> None:
        """One loop turn: sleep until an fd is readable or a deadline, then collect.

        The wait is capped because a condition may depend on the progress board, which
        changes without waking anybody.
        """
        wake = self.pool.next_deadline()
        wait = min(limit, time.monotonic() + 0.05, wake or limit) - time.monotonic()
        poller = select.poll()
        for fd in self.pool.fds():
            poller.register(fd, select.POLLIN)
        poller.poll(max(0, int(wait * 1000) + 1))
        self.record(self.pool.collect(time.monotonic()))

    def record(self, events: list[ExecutorEvent]) -> None:
        for event in events:
            self.events.append(event)
            if isinstance(event, ItemFinished):
                assert event.outcome.index not in self.outcomes, "reported twice"
                self.outcomes[event.outcome.index] = event.outcome
            elif isinstance(event, StepsReturned):
                self.returned += event.steps
            elif isinstance(event, ChunkFinished):
                self.finished.append(event.chunk_id)

    def until(self, condition: Callable[[], object], timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout} s waiting for {condition}")
            self.turn(deadline)

    def ready(self, count: int | None = None) -> None:
        """Wait until ``count`` workers (default: all) are idle."""
        want = len(self.pool.workers()) if count is None else count
        self.until(lambda: self.pool.capacity() >= want)

    def run(self, chunk: Chunk, *, resubmit: bool = False, timeout: float = 30.0) -> None:
        """Submit ``chunk`` and drive until it finished; with ``resubmit``, act like the
        scheduler and run returned steps again in new chunks until none is left."""
        next_id = [chunk.chunk_id * 1000]
        pending = [chunk]
        deadline = time.monotonic() + timeout
        while pending:
            self.until(lambda: self.pool.capacity() > 0, deadline - time.monotonic())
            current = pending.pop()
            self.pool.submit(current)
            done = current.chunk_id
            self.until(lambda: done in self.finished, deadline - time.monotonic())  # noqa: B023
            if resubmit and self.returned:
                steps, self.returned = tuple(self.returned), []
                next_id[0] += 1
                by_index = dict(zip(chunk.steps, chunk.expected, strict=True))
                expected = tuple(by_index[step] for step in steps)
                pending.append(Chunk(next_id[0], chunk.batch, steps, expected, chunk.item_timeout))


@pytest.fixture
def start_pool(tmp_path: Path) -> Iterator[Callable[..., Driver]]:
    """Start pools under tmp_path, each with its Driver; every pool is shut down at the end
    and must leave no process behind."""
    made: list[WorkerPool] = []

    def make(size: int = 2, **options: object) -> Driver:
        options.setdefault("state_dir", tmp_path / "state")
        options.setdefault("enable_rollback", True)
        options.setdefault("kill_grace", 0.5)
        pool = WorkerPool(size, **options)  # type: ignore[arg-type]
        made.append(pool)
        return Driver(pool)

    yield make
    descendants = psutil.Process().children(recursive=True)
    for pool in made:
        pool.shutdown(1.0)
    assert_all_gone(descendants)


@pytest.fixture
def all_gone() -> Callable[[list[psutil.Process]], None]:
    """``all_gone(processes)`` fails unless every one of them exits within 5 s."""
    return assert_all_gone


def assert_all_gone(processes: list[psutil.Process], timeout: float = 5.0) -> None:
    """Every process in ``processes`` has exited (zombies reparented to init count as gone)."""
    deadline = time.monotonic() + timeout
    alive = list(processes)
    while alive:
        alive = [p for p in alive if _alive(p)]
        if alive and time.monotonic() > deadline:
            raise AssertionError(f"processes left behind: {alive}")
        if alive:
            psutil.wait_procs(alive, timeout=0.05)


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.fixture
def checksums(tmp_path: Path) -> Callable[[int, int], list[Step]]:
    """``checksums(start, count)``: checksum steps of indices start… over new files
    ``data/f<index>`` holding ``content <index>\\n``."""
    root = tmp_path / "data"
    root.mkdir()

    def make(start: int, count: int) -> list[Step]:
        steps = []
        for index in range(start, start + count):
            path = root / f"f{index}"
            path.write_bytes(b"content %d\n" % index)
            steps.append(
                Step(index, index + 1, OpKind.CHECKSUM, os.fsencode(path), algorithm="sha256")
            )
        return steps

    return make
