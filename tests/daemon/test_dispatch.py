"""The dispatcher: the one place exceptions become wire errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from batchd.daemon.commands import HANDLERS
from batchd.daemon.config import Config
from batchd.daemon.context import DaemonContext
from batchd.daemon.dispatch import dispatch
from batchd.daemon.journal import Journal
from batchd.daemon.journal.recovery import recover
from batchd.daemon.paths import DaemonPaths
from batchd.protocol import codec
from batchd.protocol.errors import (
    BatchNotFound,
    InternalError,
    UnknownCommand,
    VersionMismatch,
)
from batchd.protocol.messages import COMMANDS, PingReply, PingRequest


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[DaemonContext]:
    paths = DaemonPaths(tmp_path, tmp_path / "run", tmp_path / "c.toml", False)
    journal, history = Journal.open(tmp_path / "journal", recover)
    yield DaemonContext(Config(max_workers=1), paths, journal, history)
    journal.close()


def _reply(data: bytes) -> codec.ReplyEnvelope:
    return codec.decode_reply_envelope(data)


def test_every_protocol_command_has_a_handler() -> None:
    assert set(HANDLERS) == {command.request for command in COMMANDS.values()}


def test_ping_round_trip(ctx: DaemonContext) -> None:
    envelope = _reply(dispatch(ctx, codec.encode_request(3, PingRequest())))
    assert envelope.request_id == 3
    assert codec.parse_reply(envelope, PingReply).protocol == 1


def test_version_mismatch_names_both_versions(ctx: DaemonContext) -> None:
    envelope = _reply(dispatch(ctx, codec.encode_request(4, PingRequest(), version=7)))
    assert isinstance(envelope.error, VersionMismatch)
    assert envelope.request_id == 4
    assert "version 7" in envelope.error.message and "version 1" in envelope.error.message


def test_unknown_command(ctx: DaemonContext) -> None:
    body = codec.pack({"v": 1, "id": 5, "cmd": "frobnicate", "args": {}})
    envelope = _reply(dispatch(ctx, body))
    assert isinstance(envelope.error, UnknownCommand)
    assert "frobnicate" in envelope.error.message


def _boom(ctx: DaemonContext, request: Any) -> Any:
    raise ZeroDivisionError("secret internal detail")


def _not_found(ctx: DaemonContext, request: Any) -> Any:
    raise BatchNotFound("no batch 42", {"id": 42})


def test_unexpected_exception_becomes_internal_without_details(
    ctx: DaemonContext, caplog: pytest.LogCaptureFixture
) -> None:
    handlers = {PingRequest: _boom}
    envelope = _reply(dispatch(ctx, codec.encode_request(6, PingRequest()), handlers))
    assert isinstance(envelope.error, InternalError)
    assert "secret" not in envelope.error.message
    assert "ZeroDivisionError" in caplog.text


def test_batchd_errors_keep_their_code_and_details(ctx: DaemonContext) -> None:
    handlers = {PingRequest: _not_found}
    envelope = _reply(dispatch(ctx, codec.encode_request(8, PingRequest()), handlers))
    assert isinstance(envelope.error, BatchNotFound)
    assert envelope.error.details == {"id": 42}
