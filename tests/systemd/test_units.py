"""The shipped units, sysusers and tmpfiles files pass systemd's own checks."""

from __future__ import annotations

import configparser
import os
import re
import subprocess
import tomllib
from pathlib import Path

import pytest
from systemd_testing import BATCHD, INSTALLED_BATCHD, UNITS, require

from batchd.daemon.config import default_config, load_config

SYSTEM_UNIT = UNITS / "batchd.service"
USER_UNIT = UNITS / "user" / "batchd.service"
MAX_EXPOSURE = 2.0  # docs/operations.md records the score; keep it "OK" or better


def _runnable_copy(unit: Path, directory: Path) -> Path:
    """The unit with ExecStart= pointing at this venv's batchd (the documented path need not
    exist on a test machine), under the same file name."""
    text = unit.read_text()
    assert INSTALLED_BATCHD in text
    directory.mkdir(parents=True, exist_ok=True)
    copy = directory / unit.name
    copy.write_text(text.replace(INSTALLED_BATCHD, BATCHD))
    return copy


def _settings(unit: Path) -> dict[str, list[str]]:
    """Every key of the unit with all its values, across sections (keys repeat in units)."""
    values: dict[str, list[str]] = {}
    for line in unit.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            values.setdefault(key.strip(), []).append(value.strip())
    return values


@pytest.mark.parametrize("unit", [SYSTEM_UNIT, USER_UNIT], ids=["system", "user"])
def test_systemd_analyze_verify_prints_nothing(unit: Path, tmp_path: Path) -> None:
    require("systemd-analyze")
    copy = _runnable_copy(unit, tmp_path / "units")
    scope = ["--user"] if unit is USER_UNIT else []
    # --user needs a runtime dir of its own; a private one keeps the test hermetic.
    runtime = tmp_path / "xdg-runtime"
    runtime.mkdir(mode=0o700)
    env = dict(os.environ, XDG_RUNTIME_DIR=str(runtime), HOME=str(tmp_path))
    result = subprocess.run(
        ["systemd-analyze", *scope, "verify", str(copy)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_system_unit_security_exposure_is_ok(tmp_path: Path) -> None:
    require("systemd-analyze")
    copy = _runnable_copy(SYSTEM_UNIT, tmp_path)
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", "--no-pager", str(copy)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert found, result.stdout + result.stderr
    assert float(found.group(1)) <= MAX_EXPOSURE, result.stdout


def test_system_unit_is_a_notify_service_that_restarts_on_failure_but_not_on_bad_config() -> None:
    settings = _settings(SYSTEM_UNIT)
    for key, value in {
        "Type": "notify",
        "NotifyAccess": "main",
        "Restart": "on-failure",
        "RestartPreventExitStatus": "78",
        "KillMode": "mixed",
        "User": "batchd",
        "StateDirectory": "batchd",
        "RuntimeDirectory": "batchd",
        "RuntimeDirectoryMode": "0700",
        "ConfigurationDirectory": "batchd",
        "ProtectSystem": "strict",
        "RestrictAddressFamilies": "AF_UNIX",
        "MemoryDenyWriteExecute": "yes",
        "SystemCallFilter": "@system-service",
    }.items():
        assert settings.get(key) == [value], key
    assert "WatchdogSec" in settings
    assert "ReadWritePaths" not in settings  # data roots come from the admin's drop-in
    assert _settings(USER_UNIT)["ExecStart"] == [INSTALLED_BATCHD]
    assert "User" not in _settings(USER_UNIT)


def test_units_parse_as_ini_with_the_expected_sections() -> None:
    for unit in (SYSTEM_UNIT, USER_UNIT):
        parser = configparser.ConfigParser(strict=False, interpolation=None)
        parser.read_string(unit.read_text())
        assert parser.sections() == ["Unit", "Service", "Install"]


def test_sysusers_creates_the_batchd_user(tmp_path: Path) -> None:
    require("systemd-sysusers", root=True)
    (tmp_path / "etc").mkdir()
    subprocess.run(
        ["systemd-sysusers", f"--root={tmp_path}", str(UNITS / "batchd.sysusers")],
        capture_output=True,
        timeout=60,
        check=True,
    )
    users = (tmp_path / "etc/passwd").read_text()
    assert re.search(r"^batchd:x:\d+:\d+:[^:]*:/var/lib/batchd:", users, re.M), users
    assert re.search(r"^batchd:x:\d+:", (tmp_path / "etc/group").read_text(), re.M)


def test_tmpfiles_creates_a_config_that_means_defaults(tmp_path: Path) -> None:
    require("systemd-tmpfiles", root=True)
    config = tmp_path / "etc/batchd/batchd.toml"
    command = ["systemd-tmpfiles", f"--root={tmp_path}", "--create", str(UNITS / "batchd.tmpfiles")]
    subprocess.run(command, capture_output=True, timeout=60, check=True)
    assert tomllib.loads(config.read_text()) == {}
    assert load_config(config, required=True) == default_config()
    config.write_text("max_workers = 3\n")
    subprocess.run(command, capture_output=True, timeout=60, check=True)
    assert config.read_text() == "max_workers = 3\n"  # an admin's file is never overwritten
