"""batchctl watch on a real terminal (tmux): one bar per batch, redrawn in place."""

from __future__ import annotations

import re
import shlex
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fake_router import FakeBatchd, FakePublisher, FakeRouter, ProgressScript
from polling import wait_until
from terminal import Terminal, needs_tmux, terminals

from batchd.protocol.batch_messages import BatchState

BATCHCTL = Path(sys.executable).with_name("batchctl")

pytestmark = needs_tmux


@pytest.fixture
def terminal_factory() -> Iterator[Callable[[str], Terminal]]:
    yield from terminals()


def screen_when(terminal: Terminal, condition: Callable[[list[str]], object]) -> list[str]:
    """The terminal's screen once `condition` holds for it."""

    def check() -> list[str] | None:
        screen = terminal.screen()
        return screen if condition(screen) else None

    return wait_until(check, timeout=15, what=f"the screen to match {condition}")


def lines_with(screen: list[str], text: str) -> list[int]:
    return [row for row, line in enumerate(screen) if text in line]


def test_watch_draws_one_bar_per_batch_in_place(
    control: str, publish_endpoint: str, terminal_factory: Callable[[str], Terminal]
) -> None:
    scripts = {
        3: ProgressScript(3, total=500, duration=1.5, name="photos"),
        4: ProgressScript(4, total=200, duration=2.5, final=BatchState.FAILED, failed=3),
    }
    command = (
        f"{shlex.quote(str(BATCHCTL))} --endpoint {shlex.quote(control)} watch 3 4;"
        " echo EXIT=$?; sleep 60"
    )
    with (
        FakeRouter(control, FakeBatchd(scripts=scripts)),
        FakePublisher(publish_endpoint, lambda: [s.event() for s in scripts.values()], 0.05),
    ):
        terminal = terminal_factory(command)
        # Both bars drawn while the batches are still pending.
        first = screen_when(terminal, lambda screen: lines_with(screen, "batch 4"))
        for script in scripts.values():
            script.start()
        running = screen_when(
            terminal,
            lambda screen: any(re.search(r"batch 3 photos running .* [1-9]\d*/500", line)
                               for line in screen),
        )  # fmt: skip
        final = screen_when(terminal, lambda screen: lines_with(screen, "EXIT="))
    row3, row4 = lines_with(first, "batch 3")[0], lines_with(first, "batch 4")[0]
    assert row4 == row3 + 1
    # Redrawn in place: each batch keeps one line, on the same row, from start to end.
    for screen in (running, final):
        assert lines_with(screen, "batch 3") == [row3], screen
        assert lines_with(screen, "batch 4") == [row4], screen
    assert re.search(r"batch 3 photos completed .*500/500 \(100%\) 0 failed", final[row3])
    assert re.search(r"batch 4 failed .*197/200 \(100%\) 3 failed", final[row4])
    assert "━" in final[row3]  # a bar, not a plain line
    assert "EXIT=0" in final[lines_with(final, "EXIT=")[0]]
