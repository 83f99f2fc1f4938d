"""Shared fixtures: a real `batchd` process in a temp dir, and the helpers on sys.path."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "helpers"))

from running_daemon import RunningDaemon


@pytest.fixture
def daemon_factory(tmp_path: Path) -> Iterator[type[RunningDaemon]]:
    """Start real daemons under tmp_path; all are killed at the end of the test."""
    started: list[RunningDaemon] = []

    class Factory(RunningDaemon):
        def __init__(self, root: Path | None = None, **kwargs: object) -> None:
            super().__init__(root or tmp_path, **kwargs)  # type: ignore[arg-type]
            started.append(self)

    yield Factory
    for daemon in started:
        daemon.cleanup()


@pytest.fixture
def daemon(daemon_factory: type[RunningDaemon]) -> RunningDaemon:
    """One started, ready daemon."""
    running = daemon_factory()
    running.start()
    return running
