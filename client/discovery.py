"""Where the client looks for the daemon, and what to tell the user when nobody is there.

Pure functions of the options, the environment and the user id: the client finds the daemon
the way the daemon picks its runtime directory (:mod:`batchd.protocol.endpoints`).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping

from batchd.protocol.endpoints import CONTROL_SOCKET_NAME, control_endpoint, default_runtime_dir


def resolve_endpoint(
    endpoint: str | None, runtime_dir: str | None, env: Mapping[str, str], uid: int
) -> str:
    """The control endpoint: an explicit one, else the one in the (default) runtime dir."""
    if endpoint is not None and runtime_dir is not None:
        raise ValueError("give either an endpoint or a runtime directory, not both")
    if endpoint is not None:
        return endpoint
    return control_endpoint(runtime_dir or default_runtime_dir(env, uid))


def ipc_path(endpoint: str) -> str | None:
    """The filesystem path of an ``ipc://`` endpoint; None for other transports and for
    Linux abstract sockets (``ipc://@name``), which have no file."""
    if not endpoint.startswith("ipc://"):
        return None
    path = endpoint.removeprefix("ipc://")
    if not path or path.startswith("@"):
        return None
    return path


def start_hint(endpoint: str, env: Mapping[str, str], uid: int) -> str:
    """How to start a daemon that would listen at this endpoint, as a clause for messages."""
    default = control_endpoint(default_runtime_dir(env, uid))
    if endpoint == default:
        systemctl = "systemctl start batchd" if uid == 0 else "systemctl --user start batchd"
        return f"start it with `batchd` or `{systemctl}`"
    path = ipc_path(endpoint)
    suffix = "/" + CONTROL_SOCKET_NAME
    if path is not None and path.endswith(suffix):
        runtime_dir = path.removesuffix(suffix) or "/"
        return f"start it with `batchd --runtime-dir {shlex.quote(runtime_dir)}`"
    return "start batchd on that endpoint"
