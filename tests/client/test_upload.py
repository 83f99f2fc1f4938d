"""Client.submit_plan: the plan streams in chunks, is reassembled exactly, and validation is
awaited by polling; chunking itself is a pure function."""

from __future__ import annotations

import io
import os
import threading

import pytest
from fake_router import FakeBatchd, FakeRouter, Received
from hypothesis import given
from hypothesis import strategies as st

from batchd.client import Client
from batchd.client.upload import UNKNOWN_SIZE, chunks, plan_size
from batchd.protocol.batch_messages import Problem, UploadState, UploadStatusReply
from batchd.protocol.errors import MalformedMessage


@given(st.binary(max_size=2000), st.integers(min_value=1, max_value=300))
def test_chunks_of_bytes_and_streams_reassemble_exactly(data: bytes, size: int) -> None:
    for source in (data, io.BytesIO(data)):
        pieces = list(chunks(source, size))
        assert b"".join(pieces) == data
        assert all(0 < len(piece) <= size for piece in pieces)
        assert all(len(piece) == size for piece in pieces[:-1])


class Trickle(io.RawIOBase):
    """A pipe-like stream that hands out at most 7 bytes per read and cannot seek."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
        step = min(7, len(buffer))
        piece, self._data = self._data[:step], self._data[step:]
        buffer[: len(piece)] = piece
        return len(piece)


def test_short_reads_are_gathered_into_full_chunks() -> None:
    data = bytes(range(256)) * 4
    pieces = list(chunks(Trickle(data), 100))  # type: ignore[arg-type]
    assert [len(p) for p in pieces] == [100] * 10 + [24]
    assert b"".join(pieces) == data


def test_plan_size_of_bytes_files_and_pipes(tmp_path: object) -> None:
    assert plan_size(b"abc") == 3
    stream = io.BytesIO(b"0123456789")
    stream.read(4)
    assert plan_size(stream) == 6
    assert stream.tell() == 4
    read_end, write_end = os.pipe()
    with os.fdopen(read_end, "rb") as pipe:
        os.close(write_end)
        assert plan_size(pipe) == UNKNOWN_SIZE


def big_plan(lines: int) -> bytes:
    # Multi-byte UTF-8 names, so that chunk boundaries fall inside characters too.
    return b"".join(
        f'{{"op": "move", "src": "é{i}.jpg", "dst": "sorted/ü{i}.jpg"}}\n'.encode()
        for i in range(lines)
    )


def test_a_plan_of_many_chunks_is_split_anywhere_and_reassembled_exactly(control: str) -> None:
    plan = big_plan(400)
    fake = FakeBatchd(chunk_bytes=777, validating_polls=3)
    progress: list[tuple[int, int]] = []
    with FakeRouter(control, fake) as router, Client.connect(control, timeout=2.0) as client:
        reply = client.submit_plan(
            plan, name="photos", priority=5, cwd=b"/home/\xffuser", on_upload=_record(progress)
        )
    assert reply.state is UploadState.ACCEPTED
    assert (reply.batch, reply.total) == (1, 400)
    assert fake.plans["u1"] == plan
    chunk_requests = [r for r in router.received if r.command == "submit_chunk"]
    assert len(chunk_requests) == -(-len(plan) // 777) > 3
    assert [r.args["seq"] for r in chunk_requests] == list(range(len(chunk_requests)))
    assert any(_splits_a_character(r) for r in chunk_requests)
    begin = fake.begins["u1"]
    assert (begin.name, begin.cwd, begin.priority, begin.dry_run) == (
        "photos",
        b"/home/\xffuser",
        5,
        False,
    )
    commands = [r.command for r in router.received]
    assert commands[-4:] == ["submit_end"] + ["upload_status"] * 3
    assert progress[-1] == (len(plan), len(plan))
    assert progress[0] == (777, len(plan))


def _record(into: list[tuple[int, int]]) -> object:
    return lambda sent, total: into.append((sent, total))


def _splits_a_character(request: Received) -> bool:
    data = request.args["data"]
    assert isinstance(data, bytes)
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def test_a_plan_from_a_pipe_streams_with_unknown_size(control: str) -> None:
    plan = big_plan(50)
    read_end, write_end = os.pipe()

    def write() -> None:
        with os.fdopen(write_end, "wb") as pipe:
            pipe.write(plan)

    writer = threading.Thread(target=write)
    writer.start()
    fake = FakeBatchd(chunk_bytes=1000, validating_polls=0)
    progress: list[tuple[int, int]] = []
    with (
        FakeRouter(control, fake),
        Client.connect(control, timeout=2.0) as client,
        os.fdopen(read_end, "rb") as pipe,
    ):
        reply = client.submit_plan(pipe, on_upload=_record(progress))
    writer.join()
    assert reply.state is UploadState.ACCEPTED
    assert fake.plans["u1"] == plan
    assert fake.begins["u1"].cwd == os.fsencode(os.getcwd())
    assert all(total == -1 for _, total in progress[:-1])
    assert progress[-1] == (len(plan), len(plan))


def test_an_empty_plan_sends_no_chunks(control: str) -> None:
    fake = FakeBatchd(validating_polls=0)
    with FakeRouter(control, fake) as router, Client.connect(control, timeout=2.0) as client:
        client.submit_plan(b"")
    assert "submit_chunk" not in [r.command for r in router.received]
    assert fake.plans["u1"] == b""


def test_invalid_and_checked_outcomes_are_returned_not_raised(control: str) -> None:
    problems = (Problem(2, "source a.jpg does not exist"), Problem(5, "not JSON"))

    def invalid(plan: bytes, begin: object, upload: str) -> UploadStatusReply:
        return UploadStatusReply(upload, UploadState.INVALID, None, 5, 2, problems, ())

    with FakeRouter(control, FakeBatchd(outcome=invalid)), Client.connect(control) as client:
        reply = client.submit_plan(b"{}\n" * 5, dry_run=True)
    assert reply.state is UploadState.INVALID
    assert reply.problems == problems


def test_a_daemon_that_lost_bytes_is_reported(control: str) -> None:
    fake = FakeBatchd(chunk_bytes=10)

    def lossy(request: Received) -> list[bytes]:
        if request.command == "submit_chunk":
            request = Received(
                request.version,
                request.request_id,
                request.command,
                {**request.args, "data": bytes(request.args["data"])[:-1]},  # type: ignore[arg-type]
            )
        return list(fake(request))

    with (
        FakeRouter(control, lossy),
        Client.connect(control, timeout=2.0) as client,
        pytest.raises(MalformedMessage, match="holds 9 bytes"),
    ):
        client.submit_plan(b"x" * 25)
