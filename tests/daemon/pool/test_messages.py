"""Pool/worker messages: chunk round trip, and refusal of malformed worker messages."""

from __future__ import annotations

import pytest

from batchd.daemon.ops.step import ErrorKind, Fingerprint, OpKind, Outcome, Step
from batchd.daemon.pool import messages
from batchd.daemon.pool.executor import Chunk
from batchd.daemon.pool.framing import FrameDecoder, FrameError, encode_frame


def test_a_chunk_survives_the_trip_through_a_frame() -> None:
    steps = (
        Step(0, 1, OpKind.MOVE, b"/a/\xff", b"/b/\xff", overwrite=True),
        Step(1, 2, OpKind.TRANSFORM, b"/c", command=("sed", "s/a/b/"), timeout=2.5),
    )
    chunk = Chunk(9, 4, steps, (Fingerprint(1, 2, 3, 4, 0o100644), None), 30.0)
    (decoded,) = FrameDecoder().feed(encode_frame(messages.chunk_message(chunk)))
    assert isinstance(decoded, list)
    assert messages.chunk_from_message(decoded) == chunk


def test_worker_messages_parse() -> None:
    outcome = Outcome.failure(3, ErrorKind.TRANSIENT, "busy")
    assert messages.parse_worker_message([messages.HELLO, 77]) == messages.Hello(77)
    parsed = messages.parse_worker_message([messages.OUTCOMES, 5, [outcome.to_row()]])
    assert parsed == messages.Outcomes(5, (outcome,))
    assert messages.parse_worker_message([messages.DONE, 5, 2]) == messages.Done(5, 2)


@pytest.mark.parametrize(
    "message",
    [
        None,
        [],
        [99],
        [messages.HELLO, "x"],
        [messages.OUTCOMES, 5, [[1, 2]]],
        [messages.OUTCOMES, 5, "rows"],
        [messages.DONE, 5, True],
        [messages.DONE, 5],
    ],
)
def test_malformed_worker_messages_are_frame_errors(message: object) -> None:
    with pytest.raises(FrameError, match="malformed message from worker"):
        messages.parse_worker_message(message)


def test_a_chunk_needs_one_expected_fingerprint_per_step() -> None:
    with pytest.raises(ValueError, match="1 steps but 0 expected"):
        Chunk(1, 1, (Step(0, 1, OpKind.MKDIR, b"/d"),), (), 0.0)
