"""Directory resolution (pure) and the private-directory rules."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from batchd.daemon.errors import DirectoryError
from batchd.daemon.paths import DaemonPaths, ensure_private_dir, resolve_paths


def _resolve(env: dict[str, str], uid: int = 1000) -> DaemonPaths:
    return resolve_paths(state_dir=None, runtime_dir=None, config=None, env=env, uid=uid)


def test_command_line_wins() -> None:
    env = {"BATCHD_STATE_DIR": "/e/state", "BATCHD_RUNTIME_DIR": "/e/run", "BATCHD_CONFIG": "/e/c"}
    paths = resolve_paths(state_dir="/a", runtime_dir="/b", config="/c", env=env, uid=0)
    assert (str(paths.state_dir), str(paths.runtime_dir), str(paths.config_file)) == (
        "/a",
        "/b",
        "/c",
    )
    assert paths.config_required


def test_batchd_env_then_systemd_env() -> None:
    env = {"BATCHD_STATE_DIR": "/e/state", "STATE_DIRECTORY": "/s/state"}
    assert str(_resolve(env).state_dir) == "/e/state"
    env = {"STATE_DIRECTORY": "/var/lib/batchd:/other", "RUNTIME_DIRECTORY": "/run/batchd"}
    paths = _resolve(env)
    assert str(paths.state_dir) == "/var/lib/batchd"
    assert str(paths.runtime_dir) == "/run/batchd"


def test_root_defaults() -> None:
    paths = _resolve({}, uid=0)
    assert str(paths.state_dir) == "/var/lib/batchd"
    assert str(paths.runtime_dir) == "/run/batchd"
    assert str(paths.config_file) == "/etc/batchd/batchd.toml"
    assert not paths.config_required


def test_user_defaults_follow_xdg() -> None:
    env = {"HOME": "/home/u", "XDG_RUNTIME_DIR": "/run/user/1000"}
    paths = _resolve(env)
    assert str(paths.state_dir) == "/home/u/.local/state/batchd"
    assert str(paths.runtime_dir) == "/run/user/1000/batchd"
    assert str(paths.config_file) == "/home/u/.config/batchd/batchd.toml"
    env = {"HOME": "/home/u", "XDG_STATE_HOME": "/x/s", "XDG_CONFIG_HOME": "/x/c"}
    paths = _resolve(env)
    assert str(paths.state_dir) == "/x/s/batchd"
    assert str(paths.config_file) == "/x/c/batchd/batchd.toml"


def test_private_dir_is_created_0700_and_tightened(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b"
    ensure_private_dir(target)
    assert stat.S_IMODE(target.stat().st_mode) == 0o700
    target.chmod(0o755)
    ensure_private_dir(target)
    assert stat.S_IMODE(target.stat().st_mode) == 0o700


def test_private_dir_refuses_a_file(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(DirectoryError, match="not a directory"):
        ensure_private_dir(tmp_path / "f")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to chown a directory to another user")
def test_private_dir_refuses_another_users_directory(tmp_path: Path) -> None:
    target = tmp_path / "theirs"
    target.mkdir()
    os.chown(target, 12345, 12345)
    with pytest.raises(DirectoryError, match="owned by uid 12345"):
        ensure_private_dir(target)
