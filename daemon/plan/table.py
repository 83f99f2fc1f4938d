"""The parsed items of a plan as compact columns (~30 bytes per item plus its paths)."""

from __future__ import annotations

from array import array
from collections.abc import Iterator
from typing import Final

from batchd.daemon.ops.step import OpKind
from batchd.daemon.plan.items import DEFAULT_ALGORITHM, PlanItem, Transfer

_INVALID: Final = 0
_OVERWRITE: Final = 0x80
_KINDS: Final = {int(kind): kind for kind in OpKind}


class ItemTable:
    """Items by position; ``table[i]`` rebuilds the ``PlanItem`` (None once invalidated).

    Only items with options beyond the paths and ``overwrite`` (a command, a handler, a
    timeout, a non-default algorithm) keep their ``PlanItem`` object; identical commands
    are stored once.
    """

    __slots__ = ("_commands", "_dests", "_extras", "_lines", "_ops", "_paths")

    def __init__(self) -> None:
        self._lines = array("i")
        self._ops = bytearray()
        self._paths: list[bytes] = []
        self._dests: list[bytes | None] = []
        self._extras: dict[int, PlanItem] = {}
        self._commands: dict[tuple[str, ...], tuple[str, ...]] = {}

    def append(self, line: int, item: PlanItem | None) -> None:
        """Add the item of ``line`` (None: the line is invalid)."""
        self._lines.append(line)
        if item is None:
            self._ops.append(_INVALID)
            self._paths.append(b"")
            self._dests.append(None)
            return
        self._ops.append(int(item.op) | (_OVERWRITE if item.overwrite else 0))
        self._paths.append(item.path)
        self._dests.append(item.dest)
        plain_checksum = item.op is OpKind.CHECKSUM and item.algorithm == DEFAULT_ALGORITHM
        if (item.command or item.algorithm or item.handler or item.timeout) and not plain_checksum:
            if item.command:
                command = self._commands.setdefault(item.command, item.command)
                item = PlanItem(
                    item.line, item.op, item.path, command=command, timeout=item.timeout
                )
            self._extras[len(self._ops) - 1] = item

    def append_transfer(self, line: int, transfer: Transfer) -> None:
        """Add a plain move or copy (what ``append`` does with its ``PlanItem``)."""
        op, src, dst, overwrite = transfer
        self._lines.append(line)
        self._ops.append(op | (_OVERWRITE if overwrite else 0))
        self._paths.append(src)
        self._dests.append(dst)

    def __len__(self) -> int:
        return len(self._ops)

    def __iter__(self) -> Iterator[PlanItem | None]:
        return (self[position] for position in range(len(self._ops)))

    def __getitem__(self, position: int) -> PlanItem | None:
        code = self._ops[position]
        if code == _INVALID:
            return None
        extra = self._extras.get(position)
        if extra is not None:
            return extra
        op = _KINDS[code & ~_OVERWRITE]
        return PlanItem(
            self._lines[position],
            op,
            self._paths[position],
            self._dests[position],
            bool(code & _OVERWRITE),
            algorithm=DEFAULT_ALGORITHM if op is OpKind.CHECKSUM else "",
        )

    def plain(self, position: int) -> tuple[int, OpKind, bytes, bytes | None, bool] | None:
        """``(line, op, path, dest, overwrite)`` of a valid item without other options (what
        ``self[position]`` would hold besides defaults); None for any other item."""
        code = self._ops[position]
        if code == _INVALID or position in self._extras:
            return None
        return (
            self._lines[position],
            _KINDS[code & ~_OVERWRITE],
            self._paths[position],
            self._dests[position],
            bool(code & _OVERWRITE),
        )

    def kind(self, position: int) -> OpKind | None:
        """The op of the item at ``position``, None if invalid (cheaper than ``self[i]``)."""
        code = self._ops[position]
        return _KINDS[code & ~_OVERWRITE] if code != _INVALID else None

    def path(self, position: int) -> bytes:
        """The source (move, copy) or target of the item at ``position``."""
        return self._paths[position]

    def dest(self, position: int) -> bytes | None:
        """The destination of a move or copy."""
        return self._dests[position]

    def invalidate(self, position: int) -> None:
        """Drop an item found invalid; later passes skip it."""
        self._ops[position] = _INVALID
        self._extras.pop(position, None)

    def line(self, position: int) -> int:
        """The plan line of the item at ``position`` (also after it was invalidated)."""
        return self._lines[position]
