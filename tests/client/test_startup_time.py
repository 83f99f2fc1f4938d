"""batchctl starts quickly: what ``batchctl ping`` imports, checked instead of timed.

Wall time is flaky on a shared machine, so these tests pin the cause instead: the modules that
make up most of a slow start (the event classes, the upload and subscription code, rich,
pathlib) stay unimported on the way to a ping answer. BENCHMARKS.md ("batchctl start time") has
the measured times. Each run is a fresh interpreter, in two layouts: the editable install the
tests run from, and a wheel's layout (``python -S`` with only the package and site-packages on
``sys.path``), where pathlib is not loaded by the editable install's import finder.
"""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from running_daemon import RunningDaemon

from batchd.client.cli import COMMANDS, _build_parser, build_parser

REPO = Path(__file__).resolve().parents[2]

NOT_FOR_PING = {
    "batchd.protocol.events": "the event classes (only subscriptions and wait/watch need them)",
    "batchd.client.subscription": "the event subscription",
    "batchd.client.upload": "the plan upload",
    "batchd.client.bars": "the progress bars",
    "batchd.client.tables": "the tables",
    "batchd.client.plans": "the plan builders",
    "batchd.client.completion": "the completion scripts",
    "batchd.client.http_gateway": "the HTTP gateway",
    "rich": "rich (only bars and tables draw with it)",
    "hypothesis": "a test library",
}

# Prints the sorted names in sys.modules after batchctl's own entry point answered a ping.
PING_AND_LIST_MODULES = """
import contextlib, io, json, sys
from batchd.client.cli import main
with contextlib.redirect_stdout(io.StringIO()) as out:
    status = main(sys.argv[1:])
print(json.dumps({"status": status, "out": out.getvalue(), "modules": sorted(sys.modules)}))
"""


def _ping_modules(command: list[str], runtime_dir: Path) -> set[str]:
    run = subprocess.run(
        [*command, PING_AND_LIST_MODULES, "--runtime-dir", str(runtime_dir), "ping"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["status"] == 0, run.stderr
    assert "protocol:" in result["out"]
    modules = set(result["modules"])
    assert {"batchd.client.api", "batchd.protocol.codec", "zmq", "msgpack"} <= modules
    return modules


def _unexpected(modules: set[str], unwanted: dict[str, str]) -> dict[str, str]:
    return {name: why for name, why in unwanted.items() if name in modules}


def test_ping_imports_only_what_it_needs(daemon: RunningDaemon) -> None:
    modules = _ping_modules([sys.executable, "-c"], daemon.runtime_dir)
    assert _unexpected(modules, NOT_FOR_PING) == {}


def test_ping_in_a_wheel_layout_does_not_import_pathlib(
    daemon: RunningDaemon, tmp_path: Path
) -> None:
    # batchd is a namespace package: a directory holding client/ and protocol/ is its layout
    # in a wheel, without the editable install's finder (which imports pathlib itself).
    package = tmp_path / "site" / "batchd"
    package.mkdir(parents=True)
    for name in ("client", "protocol"):
        (package / name).symlink_to(REPO / name, target_is_directory=True)
    paths = [
        str(package.parent),
        sysconfig.get_paths()["purelib"],
        sysconfig.get_paths()["platlib"],
    ]
    prelude = f"import sys; sys.path[:0] = {paths!r}; sys.argv[0] = 'batchctl'\n"
    command = [sys.executable, "-S", "-c", prelude + PING_AND_LIST_MODULES]
    run = subprocess.run(
        [*command, "--runtime-dir", str(daemon.runtime_dir), "ping"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    modules = set(json.loads(run.stdout)["modules"])
    assert "batchd.client.api" in modules
    assert not any("__editable__" in name for name in modules)
    unwanted = {**NOT_FOR_PING, "pathlib": "pathlib (only CURVE keys and keygen use it)"}
    assert _unexpected(modules, unwanted) == {}


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_a_command_parsed_lazily_has_the_same_help(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """main() adds a command's arguments only when it runs; the result matches the full
    parser that completion scripts are built from."""
    helps = []
    for parser in (build_parser(), _build_parser(lazy=True)):
        with pytest.raises(SystemExit):
            parser.parse_args([name, "--help"])
        helps.append(capsys.readouterr().out)
    assert helps[0] == helps[1]
    assert "--runtime-dir" in helps[1]
