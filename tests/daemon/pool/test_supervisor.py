"""The real WorkerPool with real worker processes, driven by a miniature daemon loop."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import stat
import time
from collections.abc import Callable
from pathlib import Path

import msgpack
import psutil
import pytest

from batchd.daemon.ops.step import ErrorKind, OpKind, Step
from batchd.daemon.pool.executor import Chunk, StepsReturned, WorkerState


def _chunk(chunk_id: int, steps: list[Step], item_timeout: float = 0.0, batch: int = 1) -> Chunk:
    return Chunk(chunk_id, batch, tuple(steps), (None,) * len(steps), item_timeout)


def _call(index: int, handler: str, path: Path, timeout: float = 0.0, **args: object) -> Step:
    return Step(
        index, index + 1, OpKind.CALL, os.fsencode(path), handler=handler,
        args=msgpack.packb(args) if args else b"", timeout=timeout,
    )  # fmt: skip


def _transform(index: int, command: tuple[str, ...], path: Path, timeout: float = 0.0) -> Step:
    return Step(
        index, index + 1, OpKind.TRANSFORM, os.fsencode(path), command=command, timeout=timeout
    )


def _digest(index: int) -> str:
    return hashlib.sha256(b"content %d\n" % index).hexdigest()


def _pids(driver) -> set[int]:  # type: ignore[no-untyped-def]
    return {info.pid for info in driver.pool.workers()}


def _in_flight(driver, index: int) -> bool:  # type: ignore[no-untyped-def]
    return any(info.item == index for info in driver.pool.workers())


def test_a_chunk_of_checksums_completes_with_correct_digests(start_pool, checksums) -> None:
    driver = start_pool(2)
    steps = checksums(0, 50)
    driver.run(_chunk(1, steps))
    assert sorted(driver.outcomes) == list(range(50))
    for index, outcome in driver.outcomes.items():
        assert outcome.ok, outcome
        assert outcome.result == _digest(index)
    assert driver.returned == []
    driver.ready(2)
    assert all(info.state is WorkerState.IDLE for info in driver.pool.workers())
    assert sum(info.items_done for info in driver.pool.workers()) == 50


def test_each_failure_fails_only_its_step_with_its_own_reason(
    start_pool, checksums, handler_env, tmp_path
) -> None:
    driver = start_pool(2, env=handler_env, kill_grace=0.5)
    driver.ready()
    first_pids = _pids(driver)
    victim = tmp_path / "victim.txt"
    victim.write_text("untouched\n")
    sums = iter(checksums(0, 20))
    steps = [next(sums)]
    special: dict[str, int] = {}

    def add(name: str, make: Callable[[int], Step]) -> None:
        special[name] = 100 + len(special)
        steps.append(make(special[name]))
        steps.append(next(sums))

    add("exit1", lambda i: _transform(i, ("sh", "-c", "exit 1"), victim))
    add("hang", lambda i: _transform(i, ("sleep", "1000"), victim, timeout=0.5))
    add("abort", lambda i: _call(i, "abort", victim))
    add("raise", lambda i: _call(i, "fail", victim))
    add("sleep", lambda i: _call(i, "sleep", victim, timeout=1.0))
    add("exit3", lambda i: _call(i, "exit3", victim))
    add("noisy", lambda i: _call(i, "noisy", victim))
    steps += list(sums)

    driver.run(_chunk(1, steps, item_timeout=10.0), resubmit=True)

    assert sorted(driver.outcomes) == sorted(step.index for step in steps)
    for index, outcome in driver.outcomes.items():
        if index < 100:
            assert outcome.ok and outcome.result == _digest(index), outcome
    errors = {name: driver.outcomes[index] for name, index in special.items()}
    assert "exited with status 1" in errors["exit1"].error
    assert errors["exit1"].error_kind is ErrorKind.PERMANENT
    assert "timed out after 0.5 s" in errors["hang"].error
    assert "worker" not in errors["hang"].error  # the op handled it; no worker was killed
    assert re.fullmatch(
        r"worker \d+ died with SIGABRT while running this item", errors["abort"].error
    )
    assert "handler exploded on purpose" in errors["raise"].error
    assert re.fullmatch(r"timed out after 1 s; worker \d+ was killed", errors["sleep"].error)
    assert re.fullmatch(
        r"worker \d+ exited with status 3 while running this item", errors["exit3"].error
    )
    assert errors["noisy"].ok and errors["noisy"].result == "printed"
    for name in ("abort", "sleep", "exit3"):
        assert errors[name].error_kind is ErrorKind.TRANSIENT
    assert len({outcome.error for outcome in errors.values()}) == len(errors)
    assert victim.read_text() == "untouched\n"

    dead = {
        int(re.search(r"worker (\d+)", errors[name].error)[1])
        for name in ("abort", "sleep", "exit3")
    }  # type: ignore[index]
    assert len(dead) == 3
    driver.ready(2)
    now = _pids(driver)
    assert len(now) == 2
    assert not dead & now
    assert now != first_pids


def test_a_worker_killed_from_outside_fails_only_its_step(
    start_pool, checksums, handler_env, tmp_path
) -> None:
    driver = start_pool(1, env=handler_env)
    before, after = checksums(0, 3), checksums(3, 3)
    slow = _call(50, "sleep", tmp_path / "data" / "f0")
    chunk = _chunk(1, [*before, slow, *after])
    driver.ready()
    driver.pool.submit(chunk)
    driver.until(lambda: _in_flight(driver, 50) and len(driver.outcomes) == 3)
    (pid,) = _pids(driver)
    os.kill(pid, signal.SIGKILL)
    driver.until(lambda: 1 in driver.finished)
    assert [driver.outcomes[i].ok for i in range(3)] == [True] * 3
    failed = driver.outcomes[50]
    assert failed.error.startswith(f"worker {pid} was killed with SIGKILL while running this item")
    assert failed.error_kind is ErrorKind.TRANSIENT
    assert [step.index for step in driver.returned] == [3, 4, 5]
    driver.ready(1)
    assert _pids(driver) != {pid}


def test_cancel_lets_the_running_step_finish_and_returns_the_rest(
    start_pool, checksums, handler_env, tmp_path
) -> None:
    driver = start_pool(1, env=handler_env)
    mark = tmp_path / "started"
    slow = _call(50, "sleep", tmp_path, seconds=0.3, mark=str(mark))
    rest = checksums(0, 5)
    driver.ready()
    driver.pool.submit(_chunk(1, [slow, *rest], batch=7))
    driver.until(mark.exists)
    assert _in_flight(driver, 50)
    driver.pool.cancel(8)  # another batch: no effect
    driver.pool.cancel(7)
    driver.until(lambda: 1 in driver.finished)
    assert driver.outcomes[50].ok and driver.outcomes[50].result == "slept"
    assert [step.index for step in driver.returned] == [0, 1, 2, 3, 4]
    returned = [event for event in driver.events if isinstance(event, StepsReturned)]
    assert [(event.batch, event.chunk_id) for event in returned] == [(7, 1)]
    driver.ready(1)  # the same worker takes the next chunk
    assert driver.pool.workers()[0].items_done == 1


def test_workers_recycle_after_their_handler_item_budget(start_pool, handler_env, tmp_path) -> None:
    driver = start_pool(1, env=handler_env, recycle_after=4)
    driver.ready()
    pids = []
    for chunk_id in range(1, 5):
        driver.ready(1)
        pids.append(next(iter(_pids(driver))))
        first = chunk_id * 10
        steps = [_call(first + n, "sleep", tmp_path / "data", seconds=0) for n in range(2)]
        driver.run(_chunk(chunk_id, steps))
    assert all(outcome.ok for outcome in driver.outcomes.values())
    assert len(driver.outcomes) == 8
    # 2 handler items per chunk, budget 4: every worker serves two chunks, then is replaced.
    assert pids[0] == pids[1] != pids[2] == pids[3]


def test_built_in_ops_do_not_use_up_the_recycling_budget(start_pool, checksums) -> None:
    # Only plugin code can leak inside a worker: 8 checksums under a budget of 4 keep it.
    driver = start_pool(1, recycle_after=4)
    driver.ready()
    pids = []
    for chunk_id in range(1, 5):
        driver.ready(1)
        pids.append(next(iter(_pids(driver))))
        driver.run(_chunk(chunk_id, checksums(chunk_id * 10, 2)))
    assert all(outcome.ok for outcome in driver.outcomes.values())
    assert len(driver.outcomes) == 8
    assert len(set(pids)) == 1


def test_a_corrupt_message_kills_the_worker_and_fails_its_step(
    start_pool, checksums, handler_env, tmp_path
) -> None:
    driver = start_pool(1, env=handler_env)
    steps = [*checksums(0, 2), _call(50, "garbage", tmp_path / "data"), *checksums(2, 2)]
    driver.run(_chunk(1, steps))
    failed = driver.outcomes[50]
    assert re.match(r"worker \d+ sent a corrupt message while running this item", failed.error)
    assert failed.error_kind is ErrorKind.TRANSIENT
    # Outcomes of 0 and 1 may still have been on their way (batched) when the garbage came.
    returned = [step.index for step in driver.returned]
    assert all(driver.outcomes[i].ok for i in (0, 1) if i not in returned)
    assert sorted(returned + [i for i in driver.outcomes if i != 50]) == [0, 1, 2, 3]
    assert returned[-2:] == [2, 3]


def test_shutdown_returns_unfinished_work_and_leaves_no_process(
    start_pool, checksums, handler_env, tmp_path, all_gone
) -> None:
    driver = start_pool(2, env=handler_env)
    driver.ready()
    victim = tmp_path / "victim.txt"
    victim.write_text("x\n")
    marks = [tmp_path / "sleeping", tmp_path / "shell"]
    hang = _transform(60, ("sh", "-c", f"sleep 1000 & sleep 1000 & touch {marks[1]}; wait"), victim)
    sleepy = _call(50, "sleep", victim, mark=str(marks[0]))
    driver.pool.submit(_chunk(1, [sleepy, *checksums(0, 2)]))
    driver.pool.submit(_chunk(2, [hang, *checksums(2, 2)]))
    driver.until(lambda: all(mark.exists() for mark in marks))
    # two workers, the shell and its two sleeps
    driver.until(lambda: len(psutil.Process().children(recursive=True)) >= 5)
    descendants = psutil.Process().children(recursive=True)
    started = time.monotonic()
    driver.record(driver.pool.shutdown(0.3))
    assert time.monotonic() - started < 3.0
    assert sorted(driver.finished) == [1, 2]
    assert sorted(step.index for step in driver.returned) == [0, 1, 2, 3, 50, 60], driver.outcomes
    assert driver.outcomes == {}
    assert driver.pool.workers() == []
    assert driver.pool.capacity() == 0
    with pytest.raises(RuntimeError, match="shut down"):
        driver.pool.submit(_chunk(3, checksums(4, 1)))
    all_gone(descendants)


def test_workers_that_die_at_start_up_back_off(start_pool, tmp_path) -> None:
    log = tmp_path / "starts"
    script = tmp_path / "broken-python"
    script.write_text(f"#!/bin/sh\necho started >> {log}\nexit 1\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    driver = start_pool(2, python=str(script))
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        driver.turn(deadline)
        assert driver.pool.capacity() == 0
    starts = len(log.read_text().splitlines())
    # 0.1, 0.2, 0.4, 0.8 s apart: a handful of starts, not hundreds.
    assert 2 <= starts <= 10
    assert driver.pool.next_deadline() is not None


def test_resize_grows_and_shrinks(start_pool) -> None:
    driver = start_pool(1)
    driver.ready(1)
    driver.pool.resize(3)
    driver.ready(3)
    driver.pool.resize(1)
    driver.until(lambda: len(driver.pool.workers()) == 1)
    assert driver.pool.capacity() == 1
