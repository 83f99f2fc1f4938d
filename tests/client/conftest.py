"""Fixtures of the client tests: sample replies, a runtime dir, and a runner for batchctl."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from batchd.protocol.endpoints import control_endpoint, events_endpoint
from batchd.protocol.messages import (
    JournalStats,
    LimitActions,
    LimitsInForce,
    PingReply,
    StatsReply,
    WorkerStats,
)

# The shared helpers are plain modules in tests/helpers (no tests/__init__.py by design).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "helpers"))

BATCHCTL = Path(sys.executable).with_name("batchctl")


@pytest.fixture
def runtime_dir(tmp_path: Path) -> Path:
    """An empty runtime directory: no daemon listens here until a test binds a fake."""
    path = tmp_path / "run"
    path.mkdir()
    return path


@pytest.fixture
def control(runtime_dir: Path) -> str:
    """The control endpoint in the runtime directory."""
    return control_endpoint(str(runtime_dir))


@pytest.fixture
def publish_endpoint(runtime_dir: Path) -> str:
    """The event endpoint in the runtime directory."""
    return events_endpoint(str(runtime_dir))


@pytest.fixture
def batchctl() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run the installed ``batchctl`` console script with a hard stop after 30 s."""

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BATCHCTL), *args], capture_output=True, text=True, timeout=30, check=False
        )

    return run


@pytest.fixture
def ping_reply() -> PingReply:
    """A plausible ping answer."""
    return PingReply(
        daemon_version="0.1.0",
        protocol=1,
        pid=4242,
        uptime=3725.5,
        started_at=1_700_000_000.0,
        last_stop_clean=False,
        state_dir="/var/lib/batchd",
    )


@pytest.fixture
def stats_reply() -> StatsReply:
    """A plausible stats answer with one worker."""
    return StatsReply(
        pid=4242,
        uptime=12.25,
        rss=47_400_000,
        cpu_percent=1.5,
        cpu_user=0.52,
        cpu_system=0.11,
        threads=3,
        open_fds=17,
        journal=JournalStats(
            segments=2, bytes=1_300_000, durable_lsn=340, records=340, commits=12, fsyncs=12
        ),
        limits=LimitsInForce(
            max_workers=8,
            enable_checkpoint=True,
            enable_rollback=False,
            cpu_limit_percent=50,
            worker_memory_limit_mb=512,
            total_memory_limit_mb=0,
        ),
        limit_actions=LimitActions(4, 1.5, 1, 0),
        workers=(WorkerStats(pid=5000, state="busy", cpu_percent=97.0, rss=20_000_000),),
    )
