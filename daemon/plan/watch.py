"""Items between the members of a chain or cycle of moves must not touch its paths.

A chain or cycle runs as a whole when its last member is reached (``simulate``); an item
placed between its members would see a state that never exists, so it is reported instead.
"""

from __future__ import annotations

from batchd.daemon.plan.paths import shown
from batchd.daemon.plan.problems import ProblemSink
from batchd.daemon.plan.renames import RenameGroup
from batchd.daemon.plan.table import ItemTable


class GroupWatch:
    """The paths of the open groups (first member reached, last not yet) that have other
    items between their members, and the check of those items."""

    def __init__(self, items: ItemTable, sink: ProblemSink) -> None:
        self.items = items
        self.sink = sink
        self._watched: dict[bytes, RenameGroup] = {}  # paths of open groups with gaps
        # Ancestors of those paths -> the groups below them, by id.
        self._watched_below: dict[bytes, dict[int, RenameGroup]] = {}

    @property
    def active(self) -> bool:
        """True while some group is open."""
        return bool(self._watched)

    def watch(self, group: RenameGroup, start: bool) -> None:
        """Open (``start``) or close ``group``."""
        group_id = id(group)
        for path in group.paths:
            if start:
                self._watched[path] = group
            else:
                self._watched.pop(path, None)
            end = path.rfind(b"/")
            while end > 0:
                below = self._watched_below.setdefault(path[:end], {})
                if start:
                    below[group_id] = group
                else:
                    below.pop(group_id, None)
                if not below:
                    del self._watched_below[path[:end]]
                end = path.rfind(b"/", 0, end)

    def check(self, position: int, own: RenameGroup | None) -> None:
        """Report the item at ``position`` if it touches a path of an open group other than
        its own."""
        items = self.items
        for path in (items.path(position), items.dest(position)):
            if path is None:
                continue
            group = self._touched_group(path, own)
            if group is not None:
                first, last = items.line(group.first), items.line(group.last)
                self.sink.add(
                    items.line(position),
                    f"{shown(path)} is touched while the moves on lines {first} to "
                    f"{last} rename it or a path around it as one chain or cycle; "
                    f"put this line before line {first} or after line {last}",
                )
                return

    def _touched_group(self, path: bytes, own: RenameGroup | None) -> RenameGroup | None:
        end = len(path)
        while end > 0:
            group = self._watched.get(path[:end])
            if group is not None and group is not own:
                return group
            end = path.rfind(b"/", 0, end)
        for group in self._watched_below.get(path, {}).values():
            if group is not own:
                return group
        return None
