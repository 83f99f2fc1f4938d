"""The governor over a fake probe: what it stops, continues and kills, without processes."""

from __future__ import annotations

import signal
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from batchd.daemon.pool.governor import Governed, Governor
from batchd.daemon.pool.limits import MIB, Limits
from batchd.daemon.pool.probe import TreeUsage
from batchd.daemon.pool.throttle import PERIOD


@dataclass
class FakeProbe:
    """Workers 100 and 200, each with one child in its own group (pid + 1); every process
    burns CPU at ``rate`` CPU-s/s while not stopped."""

    rate: float = 1.0
    rss: dict[int, int] = field(default_factory=lambda: {100: 50 * MIB, 200: 50 * MIB})
    cpu: dict[int, float] = field(default_factory=lambda: {100: 0.0, 200: 0.0})
    stopped: set[int] = field(default_factory=set)
    signals: list[tuple[int, int]] = field(default_factory=list)
    now: float = 0.0

    def advance(self, until: float) -> None:
        for worker in self.cpu:
            if worker not in self.stopped:
                self.cpu[worker] += 2 * self.rate * (until - self.now)
        self.now = until

    def cpus(self) -> int:
        return 2

    def tree(self, worker: int) -> list[int]:
        return [worker, worker + 1] if worker in self.cpu else []

    def usage(self, worker: int) -> TreeUsage | None:
        if worker not in self.cpu:
            return None
        return TreeUsage((worker, worker + 1), self.cpu[worker], self.rss[worker])

    def pss(self, pids: Sequence[int]) -> int:
        return self.rss[pids[0]] // 2

    def groups(self, pids: Sequence[int]) -> frozenset[int]:
        return frozenset(pids)

    def signal_groups(self, groups: Iterable[int], signum: int) -> None:
        for group in groups:
            self.signals.append((group, signum))
            if signum == signal.SIGSTOP:
                self.stopped.add(group)
            else:
                self.stopped.discard(group)


BUSY = [Governed(100, busy=True), Governed(200, busy=True)]


def _drive(governor: Governor, probe: FakeProbe, until: float, workers=BUSY) -> None:  # type: ignore[no-untyped-def]
    while probe.now < until:
        wake = governor.deadline() or probe.now + PERIOD
        probe.advance(min(until, max(wake, probe.now + 0.001)))
        governor.enforce(workers, 2, probe.now)


def test_no_limits_no_sampling_no_deadline() -> None:
    probe = FakeProbe()
    governor = Governor(Limits(), probe)
    assert governor.enforce(BUSY, 2, 1.0) == []
    assert governor.deadline() is None
    assert probe.signals == []
    probe.advance(1.0)
    first = governor.usage(100, 1.0)
    assert first.rss == 50 * MIB and first.cpu_percent is None  # read on demand for stats
    probe.advance(3.0)
    assert governor.usage(100, 3.0).cpu_percent == 100.0  # since the previous read


def test_the_cap_stops_and_continues_whole_trees() -> None:
    probe = FakeProbe()
    governor = Governor(Limits(cpu_percent=50), probe)
    _drive(governor, probe, 5.0)
    stopped_groups = {group for group, signum in probe.signals if signum == signal.SIGSTOP}
    assert stopped_groups == {100, 101, 200, 201}
    assert governor.counters().cpu_throttles > 10
    assert governor.paused(100, probe.now) > 1.0
    governor.release(probe.now)
    assert probe.stopped == set()


def test_a_worker_that_goes_idle_or_away_is_continued_at_once() -> None:
    probe = FakeProbe()
    governor = Governor(Limits(cpu_percent=10), probe)
    _drive(governor, probe, 2.0)
    while not probe.stopped:  # get into a stop phase
        _drive(governor, probe, probe.now + 0.01)
    governor.enforce([Governed(100, busy=False), Governed(200, busy=True)], 2, probe.now)
    assert probe.stopped == {200, 201}
    governor.forget(200, probe.now)
    assert probe.stopped == set()


def test_lifting_the_cap_continues_everything() -> None:
    probe = FakeProbe()
    governor = Governor(Limits(cpu_percent=10), probe)
    _drive(governor, probe, 2.0)
    while not probe.stopped:
        _drive(governor, probe, probe.now + 0.01)
    governor.set_limits(Limits(), probe.now)
    assert probe.stopped == set()
    assert governor.deadline() is None


def test_memory_kills_and_counters() -> None:
    probe = FakeProbe(rate=0.0)
    probe.rss[200] = 900 * MIB  # PSS (fake): half of it, 450 MiB
    governor = Governor(Limits(worker_memory_mb=400), probe)
    kills = governor.enforce(BUSY, 2, 0.0)
    assert [(kill.worker, kill.error) for kill in kills] == [
        (200, "memory limit exceeded (450 MiB > 400 MiB)")
    ]
    assert governor.counters().memory_kills == 1
    assert governor.usage(200, 0.0).pss == 450 * MIB
    assert governor.usage(100, 0.0).pss is None  # RSS under the limit: PSS not read
    assert governor.deadline() == PERIOD
    assert governor.enforce(BUSY, 2, PERIOD / 2) == []  # not due yet: no sample


def test_total_kills_hold_a_worker_back() -> None:
    probe = FakeProbe(rate=0.0)
    probe.rss[100], probe.rss[200] = 400 * MIB, 600 * MIB
    governor = Governor(Limits(total_memory_mb=400), probe)
    kills = governor.enforce(BUSY, 2, 0.0)
    assert [kill.worker for kill in kills] == [200]
    assert governor.held_back == 1
    assert governor.counters().total_memory_kills == 1
    assert governor.counters().workers_held_back == 1


def test_a_batch_cap_stops_only_that_batch_and_lifting_it_continues() -> None:
    probe = FakeProbe()
    limits = Limits().with_batch_cpu(7, 25)  # 0.5 CPU-s/s of 2 CPUs for batch 7
    governor = Governor(limits, probe)
    workers = [Governed(100, busy=True, batch=7), Governed(200, busy=True, batch=8)]
    _drive(governor, probe, 5.0, workers)
    stopped_groups = {group for group, signum in probe.signals if signum == signal.SIGSTOP}
    assert stopped_groups == {100, 101}
    assert governor.paused(200, probe.now) == 0.0
    while not probe.stopped:
        _drive(governor, probe, probe.now + 0.01, workers)
    governor.set_limits(limits.with_batch_cpu(7, None), probe.now)  # the batch ended
    assert probe.stopped == set()
    assert governor.deadline() is None
