"""Which roots are in force: flags over the config file over the units' defaults; at start
they must be directories and reach the children through the environment."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from batchd.daemon.allowed_roots import put_roots_in_force
from batchd.daemon.config import ConfigError, default_config, parse_config
from batchd.daemon.main import with_allowed_roots
from batchd.daemon.ops.roots import ENVIRONMENT, PathGuard


def test_the_key_takes_a_list_of_absolute_directories() -> None:
    config = parse_config({"allowed_roots": ["/srv/a", "/srv/b"]}, "t.toml", default_config())
    assert config.allowed_roots == ("/srv/a", "/srv/b")
    for bad in (["relative"], "/srv", ["/"], [1]):
        with pytest.raises(ConfigError, match="allowed_roots"):
            parse_config({"allowed_roots": bad}, "t.toml", default_config())


def test_flags_win_over_the_file_which_wins_over_the_unit_default() -> None:
    unset, none = default_config(), parse_config({"allowed_roots": []}, "t", default_config())
    env = {"BATCHD_DEFAULT_ALLOWED_ROOTS": "/home/ann:/srv/x"}
    assert with_allowed_roots(unset, None, env).allowed_roots == ("/home/ann", "/srv/x")
    assert with_allowed_roots(none, None, env).allowed_roots == ()
    assert with_allowed_roots(none, ["/a"], env).allowed_roots == ("/a",)
    assert with_allowed_roots(unset, None, {}).allowed_roots is None
    empty = {"BATCHD_DEFAULT_ALLOWED_ROOTS": ""}  # the system unit: none until configured
    assert with_allowed_roots(unset, None, empty).allowed_roots == ()


def test_roots_in_force_are_canonical_directories_handed_to_children(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENVIRONMENT, raising=False)
    real = tmp_path / "data"
    real.mkdir()
    os.symlink(real, tmp_path / "via-link")
    config = with_allowed_roots(default_config(), [str(tmp_path / "via-link")], {})
    guard = put_roots_in_force(config, tmp_path / "state")
    assert guard is not None and guard.roots == (os.fsencode(real),)
    handed = PathGuard.from_environment()
    assert handed is not None and handed.roots == guard.roots
    assert handed.trusted == (os.fsencode(tmp_path / "state"),)
    with pytest.raises(ConfigError, match="not an existing directory"):
        put_roots_in_force(with_allowed_roots(config, ["/no/such/dir"], {}), tmp_path)
    assert put_roots_in_force(default_config(), tmp_path) is None
    assert ENVIRONMENT not in os.environ
