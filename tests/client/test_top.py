"""``batchctl top`` against a real daemon: live on a terminal (tmux), one snapshot otherwise."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from polling import wait_until
from running_daemon import BATCHCTL, RunningDaemon
from sample_plans import slow_batch
from terminal import Terminal, needs_tmux, terminals


@pytest.fixture
def tmux() -> Iterator[Callable[[str], Terminal]]:
    starter = terminals()
    start = next(starter)
    yield lambda command: start(command, 120, 30)
    next(starter, None)


def screen_when(session: Terminal, condition: Callable[[str], object]) -> str:
    """The screen as one text once `condition` holds for it."""

    def check() -> str | None:
        text = "\n".join(session.screen())
        return text if condition(text) else None

    return wait_until(check, timeout=20, interval=0.1, what=f"the screen to match {condition}")


@needs_tmux
@pytest.mark.slow
def test_top_shows_workers_and_batches_live_and_q_quits_with_0(
    daemon: RunningDaemon, tmp_path: Path, tmux: Callable[[str], Terminal]
) -> None:
    batch = slow_batch(daemon, tmp_path, count=400)
    command = (
        f"{shlex.quote(BATCHCTL)} --runtime-dir {shlex.quote(str(daemon.runtime_dir))} top;"
        " echo EXIT=$?; sleep 60"
    )
    session = tmux(command)
    screen = screen_when(
        session,
        lambda text: re.search(rf"\W{batch}\W+test\W+running\W", text) and "busy" in text,
    )
    assert re.search(r"PID\W+STATE\W+BATCH\W+ITEM\W+CPU %\W+RSS", screen), screen
    assert re.search(rf"\d+\W+busy\W+{batch}\W+\d+", screen), screen  # a worker on the batch
    assert "━" in screen  # the batch's bar
    first = re.search(r"(\d+)/400", screen)
    assert first is not None, screen
    # Redrawn: the done count moves on while top runs.
    screen_when(
        session,
        lambda text: (m := re.search(r"(\d+)/400", text)) and int(m[1]) > int(first[1]),
    )
    session.keys("q")
    final = screen_when(session, lambda text: "EXIT=" in text)
    assert "EXIT=0" in final, final


@needs_tmux
def test_ctrl_c_quits_top_with_0(daemon: RunningDaemon, tmux: Callable[[str], Terminal]) -> None:
    command = (
        f"{shlex.quote(BATCHCTL)} --runtime-dir {shlex.quote(str(daemon.runtime_dir))} top;"
        " echo EXIT=$?; sleep 60"
    )
    session = tmux(command)
    screen_when(session, lambda text: "q quits" in text)
    session.keys("C-c")
    assert "EXIT=0" in screen_when(session, lambda text: "EXIT=" in text)


def test_without_a_terminal_top_prints_one_plain_snapshot(daemon: RunningDaemon) -> None:
    result = daemon.batchctl("top")
    assert result.returncode == 0, result.stderr
    assert "\x1b[" not in result.stdout
    lines = result.stdout.splitlines()
    assert lines[0].startswith("batchd pid ")
    assert re.fullmatch(r"PID\s+STATE\s+BATCH\s+ITEM\s+CPU %\s+RSS", lines[2])
    assert lines[-1] == "no active batches"
    document = json.loads(daemon.batchctl("top", "--json").stdout)
    assert set(document) == {"stats", "batches"}
