"""The daemon's configuration: a TOML file of flat keys, validated strictly.

Key names follow the release batchd grew from (``max_workers``, ``enable_checkpoint``,
``enable_rollback``). An unknown key or a bad value is a :class:`ConfigError` naming the key,
the file and what is accepted; a missing file at the default location means defaults.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Final

from batchd.daemon.errors import ConfigError
from batchd.daemon.metrics_address import check_metrics_listen, check_metrics_remote
from batchd.daemon.pool.limits import Limits

LOG_LEVELS: Final = ("debug", "info", "warning", "error")
MAX_WORKERS_LIMIT: Final = 1024
IONICE_CLASSES: Final = ("best-effort", "idle", "none")
MEMORY_LIMIT_MB_MAX: Final = 1 << 30  # MiB: a petabyte, i.e. any sane value
_TCP_ENDPOINT: Final = re.compile(r"tcp://(?:\*|[A-Za-z0-9.\-]+|\[[0-9A-Fa-f:.]+\]):([0-9]{1,5})")


@dataclass(frozen=True, slots=True)
class Config:
    """Settings in force; every field is a config key of the same name."""

    max_workers: int
    enable_checkpoint: bool = True
    enable_rollback: bool = True
    log_level: str = "info"
    max_retries: int = 3
    retry_backoff: float = 1.0
    retry_backoff_max: float = 60.0
    item_timeout: float = 3600.0
    worker_recycle_after: int = 10_000
    shutdown_grace: float = 10.0
    cpu_limit_percent: int = 100
    worker_memory_limit_mb: int = 0
    total_memory_limit_mb: int = 0
    worker_nice: int = 10
    worker_ionice_class: str = "best-effort"
    worker_ionice_level: int = 7
    checkpoint_records: int = 500_000
    checkpoint_interval: float = 300.0
    undo_retention_days: float = 30.0
    undo_store_quota_mb: int = 0
    max_plan_items: int = 10_000_000
    max_active_batches_per_client: int = 64
    listen_tcp: str = ""
    curve_server_secret_key_file: str = ""
    curve_allowed_clients_dir: str = ""
    allowed_roots: tuple[str, ...] | None = None
    """Directories whose contents plans may change (None: not configured, no restriction)."""
    transform_commands: tuple[str, ...] | None = None
    """Commands transforms may run, as the plan's argv[0] (None: any)."""
    # -- metrics (daemon/metrics.py) --
    metrics_listen: str = ""
    """HOST:PORT of the Prometheus endpoint ("": off)."""
    metrics_allow_remote: bool = False
    """Whether metrics_listen may be other than a loopback address."""


def default_config() -> Config:
    """Defaults: one worker per CPU, checkpoints and rollback on."""
    return Config(max_workers=os.cpu_count() or 1)


def _check_max_workers(value: object) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_WORKERS_LIMIT:
        return None
    return f"an integer from 1 to {MAX_WORKERS_LIMIT}"


def _check_bool(value: object) -> str | None:
    return None if isinstance(value, bool) else "true or false"


def _int_range(low: int, high: int) -> Callable[[object], str | None]:
    def check(value: object) -> str | None:
        ok = isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
        return None if ok else f"an integer from {low} to {high}"

    return check


def _seconds(low: float, high: float) -> Callable[[object], str | None]:
    def check(value: object) -> str | None:
        number = isinstance(value, int | float) and not isinstance(value, bool)
        ok = number and low < float(value) <= high  # type: ignore[arg-type]
        return None if ok else f"a number of seconds above {low:g} and at most {high:g}"

    return check


def _check_log_level(value: object) -> str | None:
    return None if value in LOG_LEVELS else "one of " + ", ".join(f'"{v}"' for v in LOG_LEVELS)


def _check_ionice_class(value: object) -> str | None:
    if value in IONICE_CLASSES:
        return None
    return "one of " + ", ".join(f'"{v}"' for v in IONICE_CLASSES)


def _check_tcp_endpoint(value: object) -> str | None:
    if value == "":
        return None
    match = isinstance(value, str) and _TCP_ENDPOINT.fullmatch(value)
    if match and 1 <= int(match[1]) <= 65534:
        return None
    return (
        '"" (no tcp) or an endpoint like "tcp://127.0.0.1:5555" '
        "(port 1-65534; events use the next port)"
    )


def _check_absolute_path(value: object) -> str | None:
    ok = value == "" or (isinstance(value, str) and os.path.isabs(value) and "\0" not in value)
    return None if ok else 'an absolute path, or "" for none'


def _check_roots(value: object) -> str | None:
    ok = isinstance(value, list) and all(
        isinstance(v, str) and os.path.isabs(v) and "\0" not in v and v != "/" for v in value
    )
    return None if ok else 'a list of absolute directories other than "/", e.g. ["/srv/data"]'


def _check_commands(value: object) -> str | None:
    ok = isinstance(value, list) and all(isinstance(v, str) and v and "\0" not in v for v in value)
    return None if ok else 'a list of command names or paths, e.g. ["tr", "/usr/bin/convert"]'


# What each key accepts: a check returns None when the value is fine, else what is accepted.
_CHECKS: Final[Mapping[str, Callable[[object], str | None]]] = {
    "max_workers": _check_max_workers,
    "enable_checkpoint": _check_bool,
    "enable_rollback": _check_bool,
    "log_level": _check_log_level,
    "max_retries": _int_range(0, 100),
    "retry_backoff": _seconds(0, 3600),
    "retry_backoff_max": _seconds(0, 86400),
    "item_timeout": _seconds(0, 7 * 86400),
    "worker_recycle_after": _int_range(1, 10**9),
    "shutdown_grace": _seconds(0, 3600),
    "cpu_limit_percent": _int_range(1, 100),
    "worker_memory_limit_mb": _int_range(0, MEMORY_LIMIT_MB_MAX),
    "total_memory_limit_mb": _int_range(0, MEMORY_LIMIT_MB_MAX),
    "worker_nice": _int_range(0, 19),
    "worker_ionice_class": _check_ionice_class,
    "worker_ionice_level": _int_range(0, 7),
    "checkpoint_records": _int_range(1, 10**9),
    "checkpoint_interval": _seconds(0, 86400),
    "undo_retention_days": _seconds(0, 36500),
    "undo_store_quota_mb": _int_range(0, MEMORY_LIMIT_MB_MAX),
    "max_plan_items": _int_range(1, 10**9),
    "max_active_batches_per_client": _int_range(1, 1_000_000),
    "listen_tcp": _check_tcp_endpoint,
    "curve_server_secret_key_file": _check_absolute_path,
    "curve_allowed_clients_dir": _check_absolute_path,
    "allowed_roots": _check_roots,
    "transform_commands": _check_commands,
    "metrics_listen": check_metrics_listen,
    "metrics_allow_remote": _check_bool,
}
assert set(_CHECKS) == {f.name for f in fields(Config)}


def parse_config(data: Mapping[str, object], source: str, base: Config) -> Config:
    """Validate a parsed TOML table against the known keys; pure."""
    changes: dict[str, object] = {}
    for key, value in data.items():
        check = _CHECKS.get(key)
        if check is None:
            known = ", ".join(sorted(_CHECKS))
            raise ConfigError(f"{source}: unknown key {key!r} (known keys: {known})")
        accepted = check(value)
        if accepted is not None:
            raise ConfigError(f"{source}: key {key!r} must be {accepted}, got {value!r}")
        # TOML writes whole seconds as integers; keep the fields' declared float type.
        if isinstance(value, list):
            changes[key] = tuple(value)
            continue
        changes[key] = float(value) if isinstance(getattr(base, key), float) else value  # type: ignore[arg-type]
    config = replace(base, **changes)  # type: ignore[arg-type]
    _check_tcp_needs_curve(config, source)
    check_metrics_remote(config.metrics_listen, config.metrics_allow_remote, source)
    return config


def _check_tcp_needs_curve(config: Config, source: str) -> None:
    """A tcp listener without CURVE would let anyone who reaches the port run file operations
    with the daemon's privileges: refuse it (docs/security.md)."""
    if config.listen_tcp and not (
        config.curve_server_secret_key_file and config.curve_allowed_clients_dir
    ):
        raise ConfigError(
            f"{source}: key 'listen_tcp' ({config.listen_tcp!r}) needs "
            "'curve_server_secret_key_file' and 'curve_allowed_clients_dir': batchd serves tcp "
            "only with CURVE encryption and an allow-list of client keys (docs/security.md)"
        )


def load_config(path: Path, *, required: bool) -> Config:
    """Read and validate the config file; a missing optional file gives the defaults."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        if required:
            raise ConfigError(f"{path}: config file not found") from None
        return default_config()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    config = parse_config(data, str(path), default_config())
    if config.listen_tcp:
        from batchd.daemon.curve import tcp_listener

        tcp_listener(config, str(path))  # unreadable or unsafe key files stop the start here
    return config


def limits_of(config: Config) -> Limits:
    """The worker pool's resource limits under ``config``."""
    return Limits(
        cpu_percent=config.cpu_limit_percent,
        worker_memory_mb=config.worker_memory_limit_mb,
        total_memory_mb=config.total_memory_limit_mb,
        nice=config.worker_nice,
        ionice_class=config.worker_ionice_class,
        ionice_level=config.worker_ionice_level,
    )
