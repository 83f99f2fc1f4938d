"""Moves as one simultaneous rename: chains and cycles, their execution order, and the
items that must not fall between their members.

Moves are linked when one's destination is another's source. With every source and every
destination moved at most once, the links form simple chains and cycles. A chain
``a→b, b→c`` runs from its end (``b→c`` first) so that every destination is vacated before it
is filled; a cycle ``x→y, y→z, z→x`` is broken by routing its first member (in plan order)
through a temporary name next to its source: ``x→T, z→x, y→z, T→y``.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field
from typing import Final

from batchd.daemon.ops.step import OpKind
from batchd.daemon.plan.paths import is_inside, shown
from batchd.daemon.plan.problems import ProblemSink
from batchd.daemon.plan.table import ItemTable

NORMAL: Final = 0
TO_TEMP: Final = 1
FROM_TEMP: Final = 2


@dataclass(slots=True)
class RenameGroup:
    """A chain or cycle of two or more moves; ``first``/``last`` are item positions."""

    order: list[tuple[int, int]]  # (item position, variant) in execution order
    first: int
    last: int
    cycle: bool
    broken: bool = False
    # Kept only when other items lie between the members (they must not touch these).
    paths: set[bytes] = field(default_factory=set)


class Renames:
    """The rename groups of a plan, found after invalid moves have been dropped."""

    def __init__(self, items: ItemTable, sink: ProblemSink) -> None:
        count = len(items)
        self.groups: list[RenameGroup] = []
        self.group_ids = array("i", [-1]) * count
        # prev[i]: the move whose destination is item i's source (it must wait for i).
        self.prev = array("i", [-1]) * count
        sources = self._drop_bad_moves(items, sink)
        following = self._link(items, sources)
        del sources
        self._collect(items, following, sink)

    def group_of(self, position: int) -> RenameGroup | None:
        """The group of a move with two or more members, else None."""
        group_id = self.group_ids[position]
        return self.groups[group_id] if group_id >= 0 else None

    @staticmethod
    def _drop_bad_moves(items: ItemTable, sink: ProblemSink) -> dict[bytes, int]:
        """Report moves and copies that cannot be valid; returns the sources of the rest."""
        sources: dict[bytes, int] = {}
        destinations: dict[bytes, int] = {}
        for position in range(len(items)):
            op = items.kind(position)
            if op is not OpKind.MOVE and op is not OpKind.COPY:
                continue
            path, dest = items.path(position), items.dest(position)
            assert dest is not None
            line = items.line(position)
            if dest == path:
                sink.add(line, f"source and destination are the same path {shown(dest)}")
                items.invalidate(position)
                continue
            if is_inside(dest, path):
                verb = "move" if op is OpKind.MOVE else "copy"
                sink.add(line, f"cannot {verb} {shown(path)} into itself ({shown(dest)})")
                items.invalidate(position)
                continue
            if op is not OpKind.MOVE:
                continue
            earlier = sources.setdefault(path, position)
            if earlier != position:
                sink.add(line, f"source {shown(path)} is also moved by line {items.line(earlier)}")
                items.invalidate(position)
                continue
            earlier = destinations.setdefault(dest, position)
            if earlier != position:
                sink.add(
                    line, f"destination {shown(dest)} is also written by line {items.line(earlier)}"
                )
                items.invalidate(position)
                del sources[path]
        return sources

    def _link(self, items: ItemTable, sources: dict[bytes, int]) -> array[int]:
        following = array("i", [-1]) * len(items)
        for position in sources.values():
            dest = items.dest(position)
            assert dest is not None
            follower = sources.get(dest)
            if follower is not None:
                following[position] = follower
                self.prev[follower] = position
        return following

    def _collect(self, items: ItemTable, following: array[int], sink: ProblemSink) -> None:
        for position in range(len(items)):
            if self.prev[position] == -1 and following[position] != -1:
                members = [position]
                while following[members[-1]] != -1:
                    members.append(following[members[-1]])
                self._add(items, [(m, NORMAL) for m in reversed(members)], members, False, sink)
        for position in range(len(items)):
            if following[position] != -1 and self.group_ids[position] == -1:
                members = [position]
                while following[members[-1]] != position:
                    members.append(following[members[-1]])
                start = members.index(min(members))
                members = members[start:] + members[:start]
                routed = members[0]
                order = [(routed, TO_TEMP)]
                order += [(m, NORMAL) for m in reversed(members[1:])]
                order.append((routed, FROM_TEMP))
                self._add(items, order, members, True, sink)

    def _add(
        self,
        items: ItemTable,
        order: list[tuple[int, int]],
        members: list[int],
        cycle: bool,
        sink: ProblemSink,
    ) -> None:
        group = RenameGroup(order, min(members), max(members), cycle)
        group_id = len(self.groups)
        self.groups.append(group)
        paths: set[bytes] = set()
        for member in members:
            self.group_ids[member] = group_id
            paths.add(items.path(member))
            paths.add(items.dest(member) or b"")
        # Nested paths would make "simultaneous" depend on the order of the renames.
        for member in sorted(members):
            item = items[member]
            assert item is not None and item.dest is not None
            for path in (item.path, item.dest):
                outer = _enclosing(path, paths)
                if outer is not None:
                    sink.add(
                        item.line,
                        f"{shown(path)} is inside {shown(outer)}, which the same chain or "
                        "cycle of moves renames; rename the directory and its content in "
                        "separate plans",
                    )
                    group.broken = True
                    return
        if group.last - group.first + 1 > len(members):
            group.paths = paths  # other items lie between the members: watch them


def _enclosing(path: bytes, paths: set[bytes]) -> bytes | None:
    end = path.rfind(b"/")
    while end > 0:
        prefix = path[:end]
        if prefix in paths:
            return prefix
        end = path.rfind(b"/", 0, end)
    return None
