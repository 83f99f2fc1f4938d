"""Where the Prometheus exporter listens: the ``metrics_listen`` key, parsed and checked.

Pure and free of ``prometheus_client``, so the config module can validate the keys whether or
not the optional package is installed. Hosts are IP literals or ``localhost`` (no DNS lookup
at start); anything not on the loopback interface needs ``metrics_allow_remote = true``,
because the endpoint has no authentication and shows what the daemon is working on.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Final

from batchd.daemon.errors import ConfigError

_LISTEN: Final = re.compile(
    r"(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[A-Za-z0-9.]+)):(?P<port>[0-9]{1,5})"
)
ACCEPTED: Final = '"" (off) or "HOST:PORT" with an IP address or localhost, e.g. "127.0.0.1:9464"'


def parse_metrics_listen(value: str) -> tuple[str, int] | None:
    """``(host, port)`` of a ``metrics_listen`` value (IPv6 without brackets); None when the
    value is malformed."""
    match = _LISTEN.fullmatch(value)
    if match is None or not 1 <= int(match["port"]) <= 65535:
        return None
    host = match["v6"] or match["host"]
    if host != "localhost":
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return None
        if (match["v6"] is not None) != (address.version == 6):
            return None
    return host, int(match["port"])


def check_metrics_listen(value: object) -> str | None:
    """The config check of ``metrics_listen``: None when fine, else what is accepted."""
    if value == "" or (isinstance(value, str) and parse_metrics_listen(value) is not None):
        return None
    return ACCEPTED


def is_loopback(host: str) -> bool:
    """Whether ``host`` (as parsed) only listens on the loopback interface."""
    return host == "localhost" or ipaddress.ip_address(host).is_loopback


def check_metrics_remote(listen: str, allow_remote: bool, source: str) -> None:
    """Refuse a non-loopback ``metrics_listen`` unless ``metrics_allow_remote`` says so."""
    parsed = parse_metrics_listen(listen) if listen else None
    if parsed is None or allow_remote or is_loopback(parsed[0]):
        return
    raise ConfigError(
        f"{source}: key 'metrics_listen' ({listen!r}) is not a loopback address: the metrics "
        "endpoint has no authentication, so batchd serves it only on 127.0.0.1, ::1 or "
        "localhost unless 'metrics_allow_remote = true' is set (docs/operations.md, \"Metrics\")"
    )
