"""Config parsing (pure) and the daemon refusing a bad config file at start."""

from __future__ import annotations

from pathlib import Path

import pytest
from running_daemon import RunningDaemon

from batchd.daemon.config import Config, default_config, load_config, parse_config
from batchd.daemon.errors import EX_CONFIG, ConfigError

BASE = Config(max_workers=4)


def test_defaults_follow_the_cpu_count() -> None:
    config = default_config()
    assert config.max_workers >= 1
    assert config.enable_checkpoint and config.enable_rollback


def test_seed_key_names_are_accepted() -> None:
    data = {"max_workers": 3, "enable_checkpoint": False, "enable_rollback": False}
    config = parse_config(data, "f.toml", BASE)
    assert config == Config(max_workers=3, enable_checkpoint=False, enable_rollback=False)


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({"max_worker": 3}, "unknown key 'max_worker'"),
        ({"max_workers": 0}, "key 'max_workers' must be an integer from 1 to 1024, got 0"),
        ({"max_workers": True}, "key 'max_workers' must be an integer"),
        ({"max_workers": "4"}, "got '4'"),
        ({"enable_rollback": "yes"}, "key 'enable_rollback' must be true or false"),
        ({"log_level": "loud"}, "key 'log_level' must be one of"),
    ],
)
def test_bad_keys_and_values_name_key_and_file(data: dict[str, object], needle: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(data, "/etc/batchd/batchd.toml", BASE)
    assert needle in str(caught.value)
    assert "/etc/batchd/batchd.toml" in str(caught.value)


def test_missing_default_file_means_defaults(tmp_path: Path) -> None:
    assert load_config(tmp_path / "none.toml", required=False) == default_config()


def test_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "none.toml", required=True)


def test_invalid_toml_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("max_workers = = 3\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path, required=True)


def test_daemon_refuses_to_start_with_an_unknown_key(
    tmp_path: Path, daemon_factory: type[RunningDaemon]
) -> None:
    config = tmp_path / "batchd.toml"
    config.write_text("max_workers = 2\nenable_rollbak = true\n")
    daemon = daemon_factory(args=("--config", str(config)))
    daemon.start(wait=False)
    assert daemon.wait(15) == EX_CONFIG
    assert f"{config}: unknown key 'enable_rollbak'" in daemon.log()
    assert not (daemon.runtime_dir / "control.sock").exists()


def test_daemon_uses_config_and_command_line_overrides(
    tmp_path: Path, daemon_factory: type[RunningDaemon]
) -> None:
    from batchd.protocol.messages import StatsReply, StatsRequest

    config = tmp_path / "batchd.toml"
    config.write_text("max_workers = 2\nenable_rollback = false\n")
    daemon = daemon_factory(args=("--config", str(config), "--max-workers", "3"))
    daemon.start()
    limits = daemon.request(StatsRequest(), StatsReply).limits
    assert (limits.max_workers, limits.enable_rollback, limits.enable_checkpoint) == (
        3,
        False,
        True,
    )


def test_batchd_config_env_names_the_file(
    tmp_path: Path, daemon_factory: type[RunningDaemon]
) -> None:
    daemon = daemon_factory(env={"BATCHD_CONFIG": str(tmp_path / "missing.toml")})
    daemon.start(wait=False)
    assert daemon.wait(15) == EX_CONFIG
    assert "missing.toml: config file not found" in daemon.log()


def test_resource_limit_keys_have_background_service_defaults() -> None:
    config = default_config()
    assert config.cpu_limit_percent == 100  # no cap
    assert (config.worker_memory_limit_mb, config.total_memory_limit_mb) == (0, 0)
    assert (config.worker_nice, config.worker_ionice_class, config.worker_ionice_level) == (
        10,
        "best-effort",
        7,
    )


def test_resource_limit_keys_are_accepted() -> None:
    data = {
        "cpu_limit_percent": 50,
        "worker_memory_limit_mb": 512,
        "total_memory_limit_mb": 2048,
        "worker_nice": 19,
        "worker_ionice_class": "idle",
        "worker_ionice_level": 0,
    }
    config = parse_config(data, "f.toml", BASE)
    assert (config.cpu_limit_percent, config.worker_memory_limit_mb) == (50, 512)
    assert (config.total_memory_limit_mb, config.worker_nice) == (2048, 19)
    assert (config.worker_ionice_class, config.worker_ionice_level) == ("idle", 0)


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({"cpu_limit_percent": 0}, "key 'cpu_limit_percent' must be an integer from 1 to 100"),
        ({"cpu_limit_percent": 50.5}, "key 'cpu_limit_percent' must be an integer"),
        ({"worker_memory_limit_mb": -1}, "key 'worker_memory_limit_mb' must be an integer from 0"),
        ({"total_memory_limit_mb": "1G"}, "key 'total_memory_limit_mb' must be an integer"),
        ({"worker_nice": -5}, "key 'worker_nice' must be an integer from 0 to 19"),
        ({"worker_ionice_class": "realtime"}, "key 'worker_ionice_class' must be one of"),
        ({"worker_ionice_level": 8}, "key 'worker_ionice_level' must be an integer from 0 to 7"),
    ],
)
def test_bad_resource_limit_values_are_refused(data: dict[str, object], needle: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(data, "/etc/batchd/batchd.toml", BASE)
    assert needle in str(caught.value)
