"""Where the daemon listens: the runtime directory and the two ipc endpoints in it.

Pure functions of the environment and the user id, shared by daemon and client so both find the
same sockets (contract: `--runtime-dir`, else `$BATCHD_RUNTIME_DIR`, else `$RUNTIME_DIRECTORY`,
else `/run/batchd` for root, else `$XDG_RUNTIME_DIR/batchd`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

CONTROL_SOCKET_NAME: Final = "control.sock"
EVENTS_SOCKET_NAME: Final = "events.sock"


def default_runtime_dir(env: Mapping[str, str], uid: int) -> str:
    """The runtime directory when no command-line option names one."""
    if env.get("BATCHD_RUNTIME_DIR"):
        return env["BATCHD_RUNTIME_DIR"]
    if env.get("RUNTIME_DIRECTORY"):
        # systemd may pass several directories separated by ':'; the first is ours.
        return env["RUNTIME_DIRECTORY"].split(":")[0]
    if uid == 0:
        return "/run/batchd"
    xdg = env.get("XDG_RUNTIME_DIR")
    if xdg:
        return f"{xdg.rstrip('/')}/batchd"
    return f"/tmp/batchd-{uid}"


def control_endpoint(runtime_dir: str) -> str:
    """The control (ROUTER) endpoint inside a runtime directory."""
    return f"ipc://{runtime_dir.rstrip('/')}/{CONTROL_SOCKET_NAME}"


def events_endpoint(runtime_dir: str) -> str:
    """The event (PUB) endpoint inside a runtime directory."""
    return f"ipc://{runtime_dir.rstrip('/')}/{EVENTS_SOCKET_NAME}"


def events_endpoint_for(control: str) -> str:
    """The event endpoint beside a control endpoint (same directory or host, next port)."""
    if control.startswith("ipc://") and control.endswith(CONTROL_SOCKET_NAME):
        return control[: -len(CONTROL_SOCKET_NAME)] + EVENTS_SOCKET_NAME
    if control.startswith("tcp://"):
        host, _, port = control.rpartition(":")
        if port.isdigit():
            return f"{host}:{int(port) + 1}"
    raise ValueError(f"cannot derive the event endpoint from {control!r}")
