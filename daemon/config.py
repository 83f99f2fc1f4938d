"""The daemon's configuration: a TOML file of flat keys, validated strictly.

Key names follow the release batchd grew from (``max_workers``, ``enable_checkpoint``,
``enable_rollback``). An unknown key or a bad value is a :class:`ConfigError` naming the key,
the file and what is accepted; a missing file at the default location means defaults.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Final

from batchd.daemon.errors import ConfigError

LOG_LEVELS: Final = ("debug", "info", "warning", "error")
MAX_WORKERS_LIMIT: Final = 1024


@dataclass(frozen=True, slots=True)
class Config:
    """Settings in force; every field is a config key of the same name."""

    max_workers: int
    enable_checkpoint: bool = True
    enable_rollback: bool = True
    log_level: str = "info"


def default_config() -> Config:
    """Defaults: one worker per CPU, checkpoints and rollback on."""
    return Config(max_workers=os.cpu_count() or 1)


def _check_max_workers(value: object) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_WORKERS_LIMIT:
        return None
    return f"an integer from 1 to {MAX_WORKERS_LIMIT}"


def _check_bool(value: object) -> str | None:
    return None if isinstance(value, bool) else "true or false"


def _check_log_level(value: object) -> str | None:
    return None if value in LOG_LEVELS else "one of " + ", ".join(f'"{v}"' for v in LOG_LEVELS)


# What each key accepts: a check returns None when the value is fine, else what is accepted.
_CHECKS: Final[Mapping[str, Callable[[object], str | None]]] = {
    "max_workers": _check_max_workers,
    "enable_checkpoint": _check_bool,
    "enable_rollback": _check_bool,
    "log_level": _check_log_level,
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
        changes[key] = value
    return replace(base, **changes)  # type: ignore[arg-type]


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
    return parse_config(data, str(path), default_config())
