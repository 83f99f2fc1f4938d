"""The client's CURVE keys for tcp endpoints: its own key pair and the daemon's public key.

batchd serves tcp only with CURVE (docs/security.md). The keys live in one directory, named by
``batchctl --curve-keys DIR`` or ``$BATCHD_CURVE_KEYS``: ``client.key_secret`` (this client's
pair, from ``batchctl keygen DIR``) and ``server.key`` (the daemon's public key, copied from
the daemon's host). The daemon's admin puts the matching ``client.key`` in its allow-list.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from batchd.client.discovery import (
    CLIENT_SECRET_FILE,
    CURVE_KEYS_ENV,
    SERVER_PUBLIC_FILE,
    curve_keys_dir,
    is_tcp,
)
from batchd.client.errors import InvalidEndpoint


@dataclass(frozen=True, slots=True)
class CurveClientKeys:
    """This client's CURVE key pair and the daemon's public key (all Z85)."""

    public: bytes
    secret: bytes
    server_public: bytes


def load_curve_keys(directory: str) -> CurveClientKeys:
    """Read ``client.key_secret`` and ``server.key`` from ``directory`` (written by
    ``batchctl keygen``); raises InvalidEndpoint saying which file is missing or bad."""
    # pathlib only here, since ipc clients never load keys: it adds to every batchctl start
    from pathlib import Path

    import zmq.auth

    base = Path(directory)
    try:
        public, secret = zmq.auth.load_certificate(base / CLIENT_SECRET_FILE)
        server_public, _ = zmq.auth.load_certificate(base / SERVER_PUBLIC_FILE)
    except (OSError, ValueError) as exc:
        raise InvalidEndpoint(
            f"cannot read the CURVE keys in {directory}: {exc}; it needs {CLIENT_SECRET_FILE} "
            f"(`batchctl keygen {directory}`) and the daemon's {SERVER_PUBLIC_FILE}",
            {"curve_keys": directory},
        ) from None
    if secret is None:
        raise InvalidEndpoint(
            f"{base / CLIENT_SECRET_FILE} holds no secret key; write one with "
            f"`batchctl keygen {directory}`",
            {"curve_keys": directory},
        )
    return CurveClientKeys(public, secret, server_public)


def curve_for(endpoint: str) -> CurveClientKeys | None:
    """The keys for a tcp endpoint (None for ipc); tcp without keys is refused here, since
    batchd never answers on tcp without CURVE."""
    if not is_tcp(endpoint):
        return None
    directory = curve_keys_dir(os.environ)
    if directory is None:
        raise InvalidEndpoint(
            f"{endpoint} is a tcp endpoint: batchd serves tcp only with CURVE; pass "
            f"--curve-keys DIR (or set ${CURVE_KEYS_ENV}) with this client's key pair and the "
            "daemon's public key (docs/security.md)",
            {"endpoint": endpoint},
        )
    return load_curve_keys(directory)
