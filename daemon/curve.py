"""tcp listeners, only ever with CURVE: the server's key pair and an allow-list of clients.

A tcp endpoint (config key ``listen_tcp``) is bound only with ZeroMQ's CURVE mechanism: the
traffic is encrypted and the server proves it holds ``curve_server_secret_key_file``. Which
clients may connect is decided by a ZAP handler (pyzmq's ``ThreadAuthenticator``, a thread on
the daemon's ZeroMQ context) that accepts a client public key only if a certificate with it
lies in ``curve_allowed_clients_dir``. The directory is read again for every new connection, so
removing a client's ``.key`` file revokes it for its next connection (an established
connection stays until it drops). A refused client gets no answer at all: ZeroMQ closes the
handshake and the client times out.

The ipc endpoints are bound before the CURVE options are set, so they stay plain ZeroMQ
(ZMTP NULL) guarded by file permissions, and never consult the ZAP handler.
"""

from __future__ import annotations

import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

import zmq
import zmq.auth

from batchd.daemon.errors import ConfigError
from batchd.protocol.endpoints import events_endpoint_for

if TYPE_CHECKING:
    from batchd.daemon.config import Config

log = logging.getLogger(__name__)

ZAP_DOMAIN: Final = "batchd"


@dataclass(frozen=True, slots=True)
class TcpListener:
    """Where to listen on tcp and with which keys."""

    control: str
    events: str
    public_key: bytes
    secret_key: bytes
    allowed_clients_dir: Path


def tcp_listener(config: Config, source: str = "config") -> TcpListener | None:
    """The tcp listener the config asks for (None: ipc only); raises ConfigError for a key
    file that is missing, unsafe or not a secret key, or a missing allow-list directory."""
    if not config.listen_tcp:
        return None
    public, secret = load_server_keys(Path(config.curve_server_secret_key_file), source)
    allowed = Path(config.curve_allowed_clients_dir)
    if not allowed.is_dir():
        raise ConfigError(
            f"{source}: key 'curve_allowed_clients_dir': {allowed} is not a directory; create "
            "it and put the public key (.key) files of the allowed clients in it"
        )
    return TcpListener(
        config.listen_tcp, events_endpoint_for(config.listen_tcp), public, secret, allowed
    )


def load_server_keys(path: Path, source: str) -> tuple[bytes, bytes]:
    """Read a ``.key_secret`` certificate (as written by ``batchctl keygen``); it must not be
    readable by group or others."""
    where = f"{source}: key 'curve_server_secret_key_file'"
    try:
        info = path.stat()
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read {path}: {exc.strerror}") from None
    if stat.S_IMODE(info.st_mode) & 0o077:
        raise ConfigError(
            f"{where}: {path} is readable by other users (mode {stat.S_IMODE(info.st_mode):o}); "
            f"run `chmod 600 {path}`"
        )
    try:
        public, secret = zmq.auth.load_certificate(path)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{where}: {path} is not a ZeroMQ certificate: {exc}") from None
    if secret is None:
        raise ConfigError(
            f"{where}: {path} holds no secret key; name the .key_secret file that "
            "`batchctl keygen DIR --name server` writes"
        )
    return public, secret


def allowed_client_keys(directory: Path) -> frozenset[bytes]:
    """The Z85 public keys of the certificates (``*.key``) in the allow-list directory;
    unreadable or malformed files are skipped with a warning."""
    keys = set()
    try:
        names = sorted(os.listdir(directory))
    except OSError as exc:
        log.warning("cannot read the CURVE allow-list %s: %s", directory, exc.strerror)
        return frozenset()
    for name in names:
        if not name.endswith(".key"):
            continue
        try:
            public, _ = zmq.auth.load_certificate(directory / name)
        except (OSError, ValueError) as exc:
            log.warning("skipping CURVE certificate %s: %s", directory / name, exc)
            continue
        keys.add(public)
    return frozenset(keys)


class AllowListedKeys:
    """The ZAP credentials check: is this client key in the allow-list directory now?"""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def callback(self, domain: str, key: bytes) -> bool:
        """Called by the authenticator thread for every CURVE handshake."""
        allowed = key in allowed_client_keys(self.directory)
        if not allowed:
            log.warning(
                "refused a tcp client (domain %s): its CURVE key %s is not in %s",
                domain,
                key.decode(errors="replace"),
                self.directory,
            )
        return allowed


class CurveGuard:
    """Runs the ZAP handler and turns sockets into CURVE servers."""

    def __init__(self, context: zmq.Context[zmq.Socket[bytes]], listener: TcpListener) -> None:
        from zmq.auth.thread import ThreadAuthenticator

        self.listener = listener
        self._auth = ThreadAuthenticator(context, log=logging.getLogger(f"{__name__}.zap"))
        self._auth.start()
        self._auth.configure_curve_callback(
            ZAP_DOMAIN, AllowListedKeys(listener.allowed_clients_dir)
        )

    def secure(self, sock: zmq.Socket[bytes]) -> None:
        """Make the next bind of ``sock`` a CURVE server checked by the ZAP handler."""
        sock.setsockopt(zmq.CURVE_SERVER, 1)
        sock.setsockopt(zmq.CURVE_PUBLICKEY, self.listener.public_key)
        sock.setsockopt(zmq.CURVE_SECRETKEY, self.listener.secret_key)
        sock.setsockopt(zmq.ZAP_DOMAIN, ZAP_DOMAIN.encode())

    def stop(self) -> None:
        """Stop the ZAP handler thread."""
        self._auth.stop()
