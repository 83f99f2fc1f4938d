"""Every wire error code has its class, and error replies come back as the same class."""

from __future__ import annotations

import pytest

from batchd.protocol import errors
from batchd.protocol.codec import decode_reply_envelope, encode_error
from batchd.protocol.errors import (
    BatchdError,
    ErrorCode,
    InternalError,
    ProtocolError,
    error_from_wire,
)

ERROR_CLASSES = [
    cls
    for cls in vars(errors).values()
    if isinstance(cls, type) and issubclass(cls, BatchdError) and cls not in (BatchdError,)
]
# ProtocolError is an abstract grouping: it shares MALFORMED_MESSAGE with MalformedMessage.
CONCRETE = [cls for cls in ERROR_CLASSES if cls is not ProtocolError]
PROTOCOL_CODES = {
    ErrorCode.MALFORMED_MESSAGE,
    ErrorCode.MESSAGE_TOO_LARGE,
    ErrorCode.VERSION_MISMATCH,
    ErrorCode.UNKNOWN_COMMAND,
    ErrorCode.INVALID_ARGUMENTS,
}


def test_codes_are_their_own_wire_strings() -> None:
    for code in ErrorCode:
        assert code.value == code.name


@pytest.mark.parametrize("code", list(ErrorCode), ids=lambda c: c.value)
def test_every_code_has_exactly_one_class(code: ErrorCode) -> None:
    owners = [cls for cls in CONCRETE if cls.code is code]
    assert len(owners) == 1, owners


@pytest.mark.parametrize("code", list(ErrorCode), ids=lambda c: c.value)
def test_error_from_wire_maps_each_code_back_to_its_class(code: ErrorCode) -> None:
    (cls,) = [cls for cls in CONCRETE if cls.code is code]
    error = error_from_wire(code.value, "what happened", {"path": "/x"})
    assert type(error) is cls
    assert error.code is code
    assert error.wire_code == code.value
    assert error.message == str(error) == "what happened"
    assert error.details == {"path": "/x"}


@pytest.mark.parametrize("cls", CONCRETE, ids=lambda c: c.__name__)
def test_every_error_survives_an_error_reply(cls: type[BatchdError]) -> None:
    sent = cls("it broke", {"batch": 3, "paths": ["a", "b"]})
    received = decode_reply_envelope(encode_error(11, sent)).error
    assert type(received) is cls
    assert received is not None
    assert (received.message, received.details, received.wire_code) == (
        "it broke",
        {"batch": 3, "paths": ["a", "b"]},
        sent.wire_code,
    )


def test_an_unknown_code_becomes_a_plain_batchd_error_keeping_the_code() -> None:
    error = error_from_wire("QUOTA_EXCEEDED", "too much", {"limit": 1})
    assert type(error) is BatchdError
    assert error.wire_code == "QUOTA_EXCEEDED"
    assert (error.message, error.details) == ("too much", {"limit": 1})
    assert not isinstance(error, InternalError)
    # ...and it survives being forwarded again (a proxy or gateway re-encoding it).
    again = decode_reply_envelope(encode_error(None, error)).error
    assert again is not None
    assert type(again) is BatchdError
    assert again.wire_code == "QUOTA_EXCEEDED"


def test_protocol_codes_are_protocol_errors_and_the_others_are_not() -> None:
    for cls in CONCRETE:
        assert issubclass(cls, ProtocolError) == (cls.code in PROTOCOL_CODES), cls


def test_details_are_copied_not_shared() -> None:
    details: dict[str, object] = {"a": 1}
    error = InternalError("x", details)
    details["b"] = 2
    assert error.details == {"a": 1}
    assert InternalError("y").details == {}


def test_the_module_docstring_draws_every_class_and_code() -> None:
    doc = errors.__doc__ or ""
    for cls in ERROR_CLASSES:
        assert cls.__name__ in doc
        assert cls.__doc__
    for code in ErrorCode:
        assert code.value in doc
