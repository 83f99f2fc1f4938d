"""Every request and reply survives the wire unchanged, and the command table is consistent."""

from __future__ import annotations

import dataclasses
import typing

import pytest
from hypothesis import given
from hypothesis import strategies as st

from batchd.protocol.codec import (
    MAX_REQUEST_ID,
    decode_reply_envelope,
    decode_request_envelope,
    encode_reply,
    encode_request,
    parse_reply,
    parse_request,
)
from batchd.protocol.messages import COMMANDS, Command, Reply, Request
from batchd.protocol.version import PROTOCOL_VERSION

COMMAND_LIST = sorted(COMMANDS.values(), key=lambda c: c.name)
request_ids = st.integers(0, MAX_REQUEST_ID)


def test_the_round_trips_cover_every_command() -> None:
    assert {c.name for c in COMMAND_LIST} == set(COMMANDS)
    assert {c.request for c in COMMAND_LIST} == set(typing.get_args(Request))
    assert {c.reply for c in COMMAND_LIST} == set(typing.get_args(Reply))


@pytest.mark.parametrize("command", COMMAND_LIST, ids=lambda c: c.name)
def test_table_entry_names_its_request_class(command: Command) -> None:
    assert command.name == command.request.COMMAND  # type: ignore[attr-defined]


@pytest.mark.parametrize("command", COMMAND_LIST, ids=lambda c: c.name)
def test_messages_are_frozen_slotted_dataclasses(
    command: Command, wire_classes: list[type]
) -> None:
    for cls in (command.request, command.reply):
        assert dataclasses.is_dataclass(cls)
        params = cls.__dataclass_params__  # type: ignore[attr-defined]
        assert params.frozen, cls
        assert hasattr(cls, "__slots__"), cls
        assert cls in wire_classes


@pytest.mark.parametrize("command", COMMAND_LIST, ids=lambda c: c.name)
@given(data=st.data(), request_id=request_ids)
def test_every_request_round_trips(
    command: Command, wire_strategy: typing.Any, data: st.DataObject, request_id: int
) -> None:
    message = data.draw(wire_strategy(command.request))
    envelope = decode_request_envelope(encode_request(request_id, message))
    assert envelope.version == PROTOCOL_VERSION
    assert envelope.request_id == request_id
    assert envelope.command == command.name
    assert parse_request(envelope) == message


@pytest.mark.parametrize("command", COMMAND_LIST, ids=lambda c: c.name)
@given(data=st.data(), request_id=st.none() | request_ids)
def test_every_reply_round_trips(
    command: Command, wire_strategy: typing.Any, data: st.DataObject, request_id: int | None
) -> None:
    reply = data.draw(wire_strategy(command.reply))
    envelope = decode_reply_envelope(encode_reply(request_id, reply))
    assert envelope.version == PROTOCOL_VERSION
    assert envelope.request_id == request_id
    assert envelope.error is None
    assert parse_reply(envelope, command.reply) == reply


def test_a_request_without_arguments_encodes_an_empty_args_map() -> None:
    envelope = decode_request_envelope(encode_request(7, COMMANDS["ping"].request()))
    assert envelope.args == {}
