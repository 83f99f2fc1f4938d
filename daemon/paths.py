"""Where the daemon keeps its state, sockets and config, and how it makes those directories.

Resolution follows contract.md; ``resolve_paths`` is a pure function of the command-line
values, the environment and the user id.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from batchd.daemon.errors import DirectoryError
from batchd.protocol.endpoints import control_endpoint, default_runtime_dir, events_endpoint


@dataclass(frozen=True, slots=True)
class DaemonPaths:
    """The directories and files the daemon uses."""

    state_dir: Path
    runtime_dir: Path
    config_file: Path
    config_required: bool

    @property
    def journal_dir(self) -> Path:
        """The journal's segment directory."""
        return self.state_dir / "journal"

    @property
    def control_endpoint(self) -> str:
        """The ROUTER endpoint clients connect to."""
        return control_endpoint(str(self.runtime_dir))

    @property
    def events_endpoint(self) -> str:
        """The PUB endpoint clients subscribe to."""
        return events_endpoint(str(self.runtime_dir))


def _home(env: Mapping[str, str]) -> str:
    return env.get("HOME") or os.path.expanduser("~")


def default_state_dir(env: Mapping[str, str], uid: int) -> str:
    """`$BATCHD_STATE_DIR`, `$STATE_DIRECTORY`, /var/lib/batchd (root), `$XDG_STATE_HOME/batchd`."""
    for key in ("BATCHD_STATE_DIR", "STATE_DIRECTORY"):
        if env.get(key):
            return env[key].split(":")[0]
    if uid == 0:
        return "/var/lib/batchd"
    base = env.get("XDG_STATE_HOME") or f"{_home(env)}/.local/state"
    return f"{base}/batchd"


def default_config_file(env: Mapping[str, str], uid: int) -> tuple[str, bool]:
    """The config file and whether it must exist (only when named explicitly)."""
    if env.get("BATCHD_CONFIG"):
        return env["BATCHD_CONFIG"], True
    if uid == 0:
        return "/etc/batchd/batchd.toml", False
    base = env.get("XDG_CONFIG_HOME") or f"{_home(env)}/.config"
    return f"{base}/batchd/batchd.toml", False


def resolve_paths(
    *,
    state_dir: str | None,
    runtime_dir: str | None,
    config: str | None,
    env: Mapping[str, str],
    uid: int,
) -> DaemonPaths:
    """Apply the precedence: command line, then environment, then per-user or system default."""
    config_file, required = (config, True) if config else default_config_file(env, uid)
    return DaemonPaths(
        state_dir=Path(state_dir or default_state_dir(env, uid)).absolute(),
        runtime_dir=Path(runtime_dir or default_runtime_dir(env, uid)).absolute(),
        config_file=Path(config_file).absolute(),
        config_required=required,
    )


def ensure_private_dir(path: Path, mode: int = 0o700) -> None:
    """Create ``path`` (and parents) with ``mode``; refuse one owned by another user."""
    try:
        path.mkdir(mode=mode, parents=True)
    except FileExistsError:
        pass  # checked below: it must be our own directory
    except OSError as exc:
        raise DirectoryError(f"cannot create directory {path}: {exc.strerror}") from None
    try:
        info = path.lstat()
    except OSError as exc:
        raise DirectoryError(f"cannot create directory {path}: {exc.strerror}") from None
    if not stat.S_ISDIR(info.st_mode):
        raise DirectoryError(f"{path} exists and is not a directory")
    if info.st_uid != os.geteuid():
        raise DirectoryError(
            f"{path} is owned by uid {info.st_uid}, not by this user (uid {os.geteuid()}); "
            "refusing to use it"
        )
    if stat.S_IMODE(info.st_mode) != mode:
        try:
            path.chmod(mode)
        except OSError as exc:
            raise DirectoryError(f"cannot set mode {mode:o} on {path}: {exc.strerror}") from None
