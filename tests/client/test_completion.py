"""``batchctl completion``: the scripts complete commands, options and values in real shells."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from running_daemon import BATCHCTL

from batchd.client.cli import COMMANDS, build_parser
from batchd.client.completion import bash_script, walk, zsh_script


def complete_in_bash(script: str, words: list[str], cwd: Path | None = None) -> list[str]:
    """What ``batchctl <words><TAB>`` offers: COMP_WORDS set as bash would, then _batchctl."""
    quoted = " ".join(f"'{word}'" for word in words)
    program = (
        f"{script}\n"
        f"COMP_WORDS=(batchctl {quoted}); COMP_CWORD={len(words)}\n"
        "_batchctl; printf '%s\\n' \"${COMPREPLY[@]}\"\n"
    )
    run = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", program],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=30,
        check=True,
    )
    assert run.stderr == "", run.stderr
    return [line for line in run.stdout.splitlines() if line]


@pytest.fixture(scope="module")
def bash() -> str:
    run = subprocess.run(
        [BATCHCTL, "completion", "bash"], capture_output=True, text=True, timeout=30, check=True
    )
    return run.stdout


def test_ro_completes_to_rollback(bash: str) -> None:
    assert complete_in_bash(bash, ["ro"]) == ["rollback"]


def test_commands_options_and_values(bash: str, tmp_path: Path) -> None:
    assert sorted(complete_in_bash(bash, [""])) == sorted(COMMANDS)
    assert complete_in_bash(bash, ["--js"]) == ["--json"]
    assert sorted(complete_in_bash(bash, ["--timeout", "3", "ch"])) == ["check", "checksum"]
    assert "--stalled-minutes" in complete_in_bash(bash, ["check", "--st"])
    assert complete_in_bash(bash, ["rollback", "7", "--dr"]) == ["--dry-run"]
    assert complete_in_bash(bash, ["completion", ""]) == ["bash", "zsh"]
    (tmp_path / "plan.jsonl").write_text("")
    (tmp_path / "photos").mkdir()
    assert complete_in_bash(bash, ["submit", "pl"], cwd=tmp_path) == ["plan.jsonl"]
    assert complete_in_bash(bash, ["--runtime-dir", ""], cwd=tmp_path) == ["photos"]
    assert complete_in_bash(bash, ["progress", ""], cwd=tmp_path) == []  # an id: no files


def test_every_command_and_option_is_in_both_scripts() -> None:
    parser = build_parser()
    bash, zsh = bash_script(parser), zsh_script(parser)
    _, commands = walk(parser)
    assert {c.name for c in commands} == set(COMMANDS)
    for command in commands:
        assert f"        {command.name})" in bash
        assert f"{command.name}) _arguments" in zsh
        for argument in command.arguments:
            for flag in argument.flags:
                assert flag in bash and flag in zsh


def test_zsh_script_parses() -> None:
    if shutil.which("zsh") is None:  # make system-deps installs it; CI must not skip
        if os.environ.get("CI") == "true":
            pytest.fail("zsh is not installed (make system-deps installs it)")
        pytest.skip("zsh is not installed (make system-deps installs it)")
    script = zsh_script(build_parser())
    subprocess.run(["zsh", "-n"], input=script, text=True, timeout=30, check=True)


def test_unknown_shell_is_a_usage_error() -> None:
    run = subprocess.run(
        [BATCHCTL, "completion", "fish"], capture_output=True, text=True, timeout=30, check=False
    )
    assert run.returncode == 2
    assert "invalid choice: 'fish'" in run.stderr
