"""Where ``batchd-http`` listens: parse ``HOST:PORT`` and refuse non-loopback hosts by default.

The gateway has no authentication, so only local processes may reach it unless the user says
otherwise (``--allow-remote``). A host name counts as loopback when every address it resolves
to is one (``localhost``); the server binds the first of them.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ListenAddress:
    """A resolved address to bind: numeric host, port (0: any free one) and address family."""

    host: str
    port: int
    family: socket.AddressFamily


def split_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``[IPV6]:PORT`` → (host, port); raises ValueError with the reason."""
    host, colon, port_text = text.rpartition(":")
    if not colon or not port_text.isascii() or not port_text.isdigit():
        raise ValueError(f"--listen {text!r}: expected HOST:PORT, e.g. 127.0.0.1:8787")
    port = int(port_text)
    if port > 65535:
        raise ValueError(f"--listen {text!r}: port {port} is out of range (0 to 65535)")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"--listen {text!r}: write an IPv6 address in brackets, e.g. [::1]:8787")
    return host, port


def is_loopback(address: str) -> bool:
    """Whether a numeric address is a loopback address (127.0.0.0/8, ::1)."""
    try:
        return ipaddress.ip_address(address.partition("%")[0]).is_loopback
    except ValueError:
        return False


def listen_address(text: str, *, allow_remote: bool) -> ListenAddress:
    """Resolve `text`; raises ValueError for a bad one, or a non-loopback host without
    `allow_remote`, with a message that says what to do."""
    host, port = split_listen(text)
    try:
        found = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        raise ValueError(f"--listen {text!r}: cannot resolve {host!r} ({exc.strerror})") from None
    addresses = [(family, str(sockaddr[0])) for family, _, _, _, sockaddr in found]
    if not allow_remote and not all(is_loopback(address) for _, address in addresses):
        shown = host or "every interface"
        raise ValueError(
            f"refusing to listen on {shown} ({text}): it is not a loopback address, and the "
            "gateway has no authentication, so anyone who reaches it could roll back batches; "
            "use 127.0.0.1 or [::1], or pass --allow-remote to listen there anyway"
        )
    family, address = addresses[0]
    return ListenAddress(address, port, family)
