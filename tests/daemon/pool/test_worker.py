"""The worker's loop, run in this process over real pipes (no fork): chunks, cancel, exit."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from batchd.daemon.ops.env import OpEnv
from batchd.daemon.ops.fs import FileSystem
from batchd.daemon.ops.step import OpKind, Outcome, Step
from batchd.daemon.ops.undo import UndoStore
from batchd.daemon.pool import messages
from batchd.daemon.pool.board import Progress, ProgressBoard
from batchd.daemon.pool.executor import Chunk
from batchd.daemon.pool.framing import FrameDecoder, encode_frame
from batchd.daemon.pool.worker import FLUSH_EVERY, Worker


class Pipes:
    def __init__(self, tmp_path: Path) -> None:
        self.to_worker = os.pipe()
        self.from_worker = os.pipe()
        self.board = ProgressBoard.create()
        fs = FileSystem()
        env = OpEnv(fs=fs, undo=UndoStore(tmp_path / "undo", fs), batch=0)
        self.worker = Worker(self.to_worker[0], self.from_worker[1], self.board, env)

    def send(self, *sent: list[object]) -> None:
        for message in sent:
            os.write(self.to_worker[1], encode_frame(message))

    def replies(self) -> list[object]:
        os.close(self.from_worker[1])
        data = b""
        while chunk := os.read(self.from_worker[0], 1 << 16):
            data += chunk
        return FrameDecoder().feed(data)

    def close(self) -> None:
        for fd in (*self.to_worker, self.from_worker[0]):
            os.close(fd)
        self.board.close()


@pytest.fixture
def pipes(tmp_path: Path) -> Iterator[Pipes]:
    opened = Pipes(tmp_path)
    yield opened
    opened.close()


def _chunk(tmp_path: Path, chunk_id: int, count: int) -> Chunk:
    steps = []
    for index in range(count):
        path = tmp_path / f"f{index}"
        path.write_bytes(b"%d" % index)
        steps.append(
            Step(index, index + 1, OpKind.CHECKSUM, os.fsencode(path), algorithm="sha256", size=1)
        )
    return Chunk(chunk_id, 9, tuple(steps), (None,) * count, 0.0)


def _outcomes(replies: list[object]) -> list[Outcome]:
    found: list[Outcome] = []
    for reply in replies:
        parsed = messages.parse_worker_message(reply)
        if isinstance(parsed, messages.Outcomes):
            found += parsed.outcomes
    return found


def test_a_chunk_runs_and_is_reported_in_batches(pipes: Pipes, tmp_path: Path) -> None:
    count = FLUSH_EVERY + 100  # at least one batch goes out for its size, however fast
    pipes.worker.run_chunk(_chunk(tmp_path, 4, count))
    replies = [messages.parse_worker_message(reply) for reply in pipes.replies()]
    assert replies[-1] == messages.Done(4, count)
    batches = [reply for reply in replies if isinstance(reply, messages.Outcomes)]
    assert 1 < len(batches) < count  # batched, not one message per item
    outcomes = [outcome for batch in batches for outcome in batch.outcomes]
    assert [outcome.index for outcome in outcomes] == list(range(count))
    assert outcomes[7].result == hashlib.sha256(b"7").hexdigest()
    assert pipes.board.read() == Progress(4, count, None)


def test_a_cancel_waiting_before_the_chunk_starts_returns_every_step(
    pipes: Pipes, tmp_path: Path
) -> None:
    pipes.send(messages.chunk_message(_chunk(tmp_path, 4, 3)), [messages.CANCEL, 4])
    pipes.send([messages.CANCEL, 99])  # another chunk: ignored
    os.close(pipes.to_worker[1])
    pipes.to_worker = (pipes.to_worker[0], os.open(os.devnull, os.O_WRONLY))
    pipes.worker.serve()  # returns at EOF
    replies = [messages.parse_worker_message(reply) for reply in pipes.replies()]
    assert replies == [messages.Hello(os.getpid()), messages.Done(4, 0)]


def test_exit_between_steps_stops_the_chunk(pipes: Pipes, tmp_path: Path) -> None:
    pipes.send(messages.chunk_message(_chunk(tmp_path, 4, 3)), [messages.EXIT])
    pipes.send(messages.chunk_message(_chunk(tmp_path, 5, 3)))  # never runs
    pipes.worker.serve()
    replies = [messages.parse_worker_message(reply) for reply in pipes.replies()]
    assert replies == [messages.Hello(os.getpid()), messages.Done(4, 0)]


def test_an_exit_request_stops_the_chunk_before_its_next_step(pipes: Pipes, tmp_path: Path) -> None:
    pipes.send([messages.EXIT])
    pipes.worker.run_chunk(_chunk(tmp_path, 4, 3))
    assert _outcomes(pipes.replies()) == []


def test_the_pool_closing_the_pipe_stops_the_chunk_before_its_next_step(
    pipes: Pipes, tmp_path: Path
) -> None:
    os.close(pipes.to_worker[1])
    pipes.to_worker = (pipes.to_worker[0], os.open(os.devnull, os.O_WRONLY))
    pipes.worker.run_chunk(_chunk(tmp_path, 4, 3))
    replies = [messages.parse_worker_message(reply) for reply in pipes.replies()]
    assert replies == [messages.Done(4, 0)]
