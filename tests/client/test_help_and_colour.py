"""Every command's ``--help`` shows an example; colour only on a terminal without NO_COLOR."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from running_daemon import BATCHCTL, RunningDaemon

from batchd.client.cli import COMMANDS, main


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_help_has_an_example(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([command, "--help"]) == 0
    text = capsys.readouterr().out
    assert "example" in text and f"batchctl {command}" in text.split("example", 1)[1], text


def _on_a_terminal(daemon: RunningDaemon, env: dict[str, str], *args: str) -> bytes:
    """Run batchctl with stdout on a pseudo-terminal; everything it wrote there."""
    controller, terminal = os.openpty()
    try:
        process = subprocess.Popen(
            [BATCHCTL, "--runtime-dir", str(daemon.runtime_dir), *args],
            stdout=terminal,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        os.close(terminal)
        output = b""
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            output += chunk
        assert process.wait(30) == 0
        return output
    finally:
        os.close(controller)


def test_colour_on_a_terminal_but_not_with_no_color_nor_in_a_pipe(
    daemon: RunningDaemon, tmp_path: Path
) -> None:
    plan = tmp_path / "plan.jsonl"
    (tmp_path / "f").write_text("x")
    item = {"op": "transform", "path": str(tmp_path / "f"), "command": ["false"]}
    plan.write_text(json.dumps(item) + "\n")
    assert daemon.batchctl("submit", str(plan), "--wait").returncode == 1
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    coloured = _on_a_terminal(daemon, env, "list", "--all")
    assert b"\x1b[31m" in coloured  # "failed" in red
    plain = _on_a_terminal(daemon, {**env, "NO_COLOR": "1"}, "list", "--all")
    assert b"failed" in plain and b"\x1b[" not in plain
    piped = daemon.batchctl("list", "--all")
    assert "failed" in piped.stdout and "\x1b[" not in piped.stdout
    for args in (("top",), ("check",), ("show", "1"), ("progress", "1")):
        result = daemon.batchctl(*args)
        assert "\x1b[" not in result.stdout, args
