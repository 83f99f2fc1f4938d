"""``--listen`` of batchd-http: parsing, and the refusal of non-loopback hosts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from batchd.client.http_listen import listen_address

BATCHD_HTTP = str(Path(sys.executable).with_name("batchd-http"))


@pytest.mark.parametrize("listen", ["0.0.0.0:0", ":0", "[::]:0"])
def test_a_non_loopback_address_needs_allow_remote(listen: str) -> None:
    result = subprocess.run(
        [BATCHD_HTTP, "--listen", listen], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 2
    assert "not a loopback address" in result.stderr
    assert "--allow-remote" in result.stderr
    assert result.stdout == ""


def test_listen_addresses() -> None:
    assert listen_address("127.0.0.1:8787", allow_remote=False).port == 8787
    assert listen_address("[::1]:0", allow_remote=False).host == "::1"
    assert listen_address("localhost:0", allow_remote=False).host in ("127.0.0.1", "::1")
    assert listen_address("0.0.0.0:80", allow_remote=True).host == "0.0.0.0"
    for text in ("8787", "host:port", "127.0.0.1:70000", "::1:80"):
        with pytest.raises(ValueError, match="--listen"):
            listen_address(text, allow_remote=False)
