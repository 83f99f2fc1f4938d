"""The state a batch shows once rollbacks undid some or all of its items (a pure decision)."""

from __future__ import annotations

from typing import Final

from batchd.daemon.batches.batch import CODES
from batchd.protocol.batch_messages import BatchState, ItemState

_COMPLETED: Final = CODES[ItemState.COMPLETED]


def state_after_rollbacks(
    ran: BatchState, states: bytearray, undone: bytearray | None, *, rolling: bool
) -> BatchState:
    """``rolling_back`` while a rollback of the batch runs; ``rolled_back`` when every
    completed item was undone; ``partially_rolled_back`` when some were; else the state the
    batch ended in by running."""
    if rolling:
        return BatchState.ROLLING_BACK
    if undone is None or 1 not in undone:
        return ran
    for index, code in enumerate(states):
        if code == _COMPLETED and not undone[index]:
            return BatchState.PARTIALLY_ROLLED_BACK
    return BatchState.ROLLED_BACK
