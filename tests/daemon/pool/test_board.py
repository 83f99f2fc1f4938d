"""The progress board: what one side writes, the other reads, also after the writer is gone."""

from __future__ import annotations

import os

from batchd.daemon.pool.board import Progress, ProgressBoard


def test_a_second_mapping_sees_what_the_first_writes() -> None:
    board = ProgressBoard.create()
    other = ProgressBoard(os.dup(board.fd))
    try:
        assert board.read() == Progress(-1, 0, None)
        other.publish(3, 5, 123.5)
        assert board.read() == Progress(3, 5, 123.5)
        other.publish(3, 6, None)
        assert board.read() == Progress(3, 6, None)
    finally:
        other.close()
    assert board.read() == Progress(3, 6, None)  # outlives the writer's mapping
    board.close()


def test_the_board_is_not_inherited_by_accident() -> None:
    board = ProgressBoard.create()
    try:
        assert not os.get_inheritable(board.fd)
    finally:
        board.close()
