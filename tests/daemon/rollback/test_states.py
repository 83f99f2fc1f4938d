"""The state a batch shows once rollbacks undid some or all of its items (pure)."""

from __future__ import annotations

import pytest

from batchd.daemon.batches.batch import CODES
from batchd.daemon.rollback.states import state_after_rollbacks
from batchd.protocol.batch_messages import BatchState, ItemState

DONE = CODES[ItemState.COMPLETED]
FAILED = CODES[ItemState.FAILED]
SKIPPED = CODES[ItemState.SKIPPED]


@pytest.mark.parametrize("undone", [None, bytearray(3), bytearray([1, 1, 1])])
def test_a_running_rollback_shows_rolling_back(undone: bytearray | None) -> None:
    states = bytearray([DONE] * 3)
    assert (
        state_after_rollbacks(BatchState.COMPLETED, states, undone, rolling=True)
        is BatchState.ROLLING_BACK
    )


@pytest.mark.parametrize("ran", [BatchState.COMPLETED, BatchState.FAILED, BatchState.CANCELLED])
@pytest.mark.parametrize("undone", [None, bytearray(3)])
def test_nothing_undone_keeps_the_state_it_ran_to(
    ran: BatchState, undone: bytearray | None
) -> None:
    states = bytearray([DONE, FAILED, SKIPPED])
    assert state_after_rollbacks(ran, states, undone, rolling=False) is ran


def test_every_completed_item_undone_is_rolled_back() -> None:
    states = bytearray([DONE, FAILED, DONE, SKIPPED])
    undone = bytearray([1, 0, 1, 0])  # failed and skipped items had no effect to undo
    assert (
        state_after_rollbacks(BatchState.FAILED, states, undone, rolling=False)
        is BatchState.ROLLED_BACK
    )


def test_some_completed_items_undone_is_partially_rolled_back() -> None:
    states = bytearray([DONE, DONE, FAILED])
    undone = bytearray([1, 0, 0])
    assert (
        state_after_rollbacks(BatchState.COMPLETED, states, undone, rolling=False)
        is BatchState.PARTIALLY_ROLLED_BACK
    )
