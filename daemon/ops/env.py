"""What every op needs besides its Step: the syscall wrapper, the undo store and settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from batchd.daemon.ops.fs import FileSystem
from batchd.daemon.ops.handlers import HandlerRegistry
from batchd.daemon.ops.step import Fingerprint, Step
from batchd.daemon.ops.undo import UndoStore

STDERR_LIMIT = 64 * 1024


@dataclass(frozen=True, slots=True)
class Intent:
    """What an op is about to do, announced right before its one visible syscall.

    ``pre`` fingerprints the step's path (``None`` when absent, as for mkdir); ``temp`` is the
    prepared temp (fsynced) and ``temp_post`` its fingerprint; ``undo`` the store entry holding
    the original. The journal writes this as the INTENT record; recovery decides by inode
    identity whether the visible syscall happened.
    """

    index: int
    action: str
    pre: Fingerprint | None
    temp: bytes | None = None
    temp_post: Fingerprint | None = None
    undo: bytes | None = None


class IntentSink(Protocol):
    """Receives an op's Intent; must make it durable before returning (or raise)."""

    def __call__(self, step: Step, intent: Intent) -> None:
        """Record ``intent``."""


def no_intent(step: Step, intent: Intent) -> None:
    """The default sink: nothing is journaled."""


@dataclass(frozen=True, slots=True)
class OpEnv:
    """Shared by all steps a worker runs: build it once per worker.

    ``batch`` names the undo store's subdirectory and the temp names; ``enable_rollback``
    keeps originals before destructive ops; ``item_timeout`` bounds a transform's command
    (seconds, None = unbounded); ``stderr_limit`` bounds the stderr kept from a command;
    ``intent`` is called right before each op's one visible syscall.
    """

    fs: FileSystem
    undo: UndoStore
    batch: int
    enable_rollback: bool = True
    item_timeout: float | None = None
    handlers: HandlerRegistry = field(default_factory=HandlerRegistry)
    stderr_limit: int = STDERR_LIMIT
    intent: IntentSink = no_intent
