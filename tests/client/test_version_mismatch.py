"""A daemon of another protocol version: a clear VersionMismatch naming both versions, exit 1.

Only a fake can stand in here: the real daemon always speaks this checkout's version.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence

import pytest
from fake_router import FakeRouter, Received, error, hello_reply, ok, raw

from batchd.client import Client
from batchd.protocol.errors import VersionMismatch
from batchd.protocol.messages import HelloReply
from batchd.protocol.version import BATCHD_VERSION, PROTOCOL_VERSION

Batchctl = Callable[..., subprocess.CompletedProcess[str]]
Handler = Callable[[Received], Sequence[bytes]]


def version_99_error(request: Received) -> list[bytes]:
    """What a protocol-99 daemon answers: VERSION_MISMATCH, in its own envelope, without an id."""
    body = {
        "code": "VERSION_MISMATCH",
        "message": "this daemon speaks protocol 99",
        "details": {"protocol": 99},
    }
    return [raw({"v": 99, "id": None, "ok": False, "error": body})]


def version_99_other_shape(request: Received) -> list[bytes]:
    """A protocol-99 reply whose envelope this client cannot even decode (unknown key)."""
    return [raw({"v": 99, "id": request.request_id, "ok": True, "result": {}, "trace": "x"})]


def version_99_answer(request: Received) -> list[bytes]:
    """A well-formed successful reply, but in a protocol-99 envelope."""
    return [raw({"v": 99, "id": request.request_id, "ok": True, "result": {"protocol": 99}})]


def hello_says_99(request: Received) -> list[bytes]:
    """A daemon whose envelope matches but whose handshake reports protocol 99."""
    reply = HelloReply(protocol=99, daemon_version="9.0.0", pid=1)
    return [ok(request.request_id, reply)]


def same_envelope_mismatch_error(request: Received) -> list[bytes]:
    """A daemon that sends VERSION_MISMATCH in an envelope of our version."""
    return [error(request.request_id, VersionMismatch("daemon refuses protocol 1"))]


MISMATCHES = {
    "error-reply-v99": version_99_error,
    "unknown-envelope-v99": version_99_other_shape,
    "ok-reply-v99": version_99_answer,
    "hello-reports-99": hello_says_99,
}


@pytest.mark.parametrize("handler", MISMATCHES.values(), ids=MISMATCHES.keys())
def test_api_raises_version_mismatch_naming_both_versions(control: str, handler: Handler) -> None:
    with FakeRouter(control, handler), pytest.raises(VersionMismatch) as caught:
        Client.connect(control, timeout=2.0)
    message = caught.value.message
    assert f"the daemon speaks version 99, this side speaks version {PROTOCOL_VERSION}" in message
    assert caught.value.details == {"peer_protocol": 99, "protocol": PROTOCOL_VERSION}


def test_api_raises_the_daemons_version_mismatch_error(control: str) -> None:
    with FakeRouter(control, same_envelope_mismatch_error), pytest.raises(VersionMismatch) as c:
        Client.connect(control, timeout=2.0)
    assert c.value.message == "daemon refuses protocol 1"


@pytest.mark.parametrize("handler", MISMATCHES.values(), ids=MISMATCHES.keys())
def test_cli_prints_one_clear_line_and_exits_1(
    batchctl: Batchctl, control: str, handler: Handler
) -> None:
    with FakeRouter(control, handler) as router:
        run = batchctl("--endpoint", control, "--timeout", "2", "ping")
    assert run.returncode == 1
    assert run.stdout == ""
    assert run.stderr == (
        "batchctl: protocol version mismatch: the daemon speaks version 99, this side speaks "
        f"version {PROTOCOL_VERSION}; install the same batchd release on both\n"
    )
    hello = router.received[0]
    assert hello.command == "hello"
    assert hello.version == PROTOCOL_VERSION
    assert hello.args == {"protocol": PROTOCOL_VERSION, "client": f"batchctl {BATCHD_VERSION}"}


def test_hello_again_detects_a_replaced_daemon(control: str) -> None:
    answers = iter([hello_reply(), HelloReply(protocol=99, daemon_version="9.0.0", pid=2)])
    with (
        FakeRouter(control, lambda r: [ok(r.request_id, next(answers))]),
        Client.connect(control, timeout=2.0) as client,
    ):
        assert client.daemon == hello_reply()
        with pytest.raises(VersionMismatch):
            client.hello()
