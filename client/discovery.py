"""Where the client looks for the daemon, and what to tell the user when nobody is there.

Pure functions of the options, the environment and the user id: the client finds the daemon
the way the daemon picks its runtime directory (:mod:`batchd.protocol.endpoints`).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from typing import Final

from batchd.protocol.endpoints import CONTROL_SOCKET_NAME, control_endpoint, default_runtime_dir

CURVE_KEYS_ENV: Final = "BATCHD_CURVE_KEYS"
"""Names the CURVE key directory when ``--curve-keys`` does not (tcp endpoints only)."""
CLIENT_SECRET_FILE: Final = "client.key_secret"
SERVER_PUBLIC_FILE: Final = "server.key"


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
    if is_tcp(endpoint):
        return (
            "start batchd with listen_tcp on that endpoint, and check that its "
            "curve_allowed_clients_dir holds this client's public key (a daemon that does not "
            "know the key never answers)"
        )
    return "start batchd on that endpoint"


def curve_keys_dir(env: Mapping[str, str]) -> str | None:
    """The directory with this client's CURVE key pair (``client.key_secret``) and the
    daemon's public key (``server.key``): ``$BATCHD_CURVE_KEYS`` (``batchctl --curve-keys DIR``
    sets it), else None."""
    return env.get(CURVE_KEYS_ENV) or None


def is_tcp(endpoint: str) -> bool:
    """Whether the endpoint is a tcp one (which batchd serves only with CURVE)."""
    return endpoint.startswith("tcp://")
