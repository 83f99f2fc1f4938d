"""The virtual tree: the real filesystem overlaid with what earlier plan items did.

Only paths the plan touches are loaded (lazily, through a ``FileSystemView``); everything
else is read from the real filesystem on demand. A directory node keeps the real path it was
loaded from, so moving it is one re-parenting and its untouched content is still found
through the real tree. Children are keyed by ``keybase + b"/" + name``; ``keybase`` is the
node's location when it was made, so for a node that never moved a child's key *is* the
child's path and the key object is shared with the plan item that named it.

Every entry also carries the dependency levels of the steps that touched its location, which
is enough for conflict detection (see ``conflict_level``): a write at level L to a location
dominates everything earlier at that location and below it, so entries that move, are
replaced or are removed never lose information that matters.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass
from typing import Final, cast

from batchd.daemon.ops.step import Fingerprint
from batchd.daemon.plan.fsview import FileSystemView

FILE: Final = 1
DIR: Final = 2
LINK: Final = 3
OTHER: Final = 4
MOVED: Final = 1
DELETED: Final = 2
NO_LEVEL: Final = -1


class Leaf:
    """A regular file or special file; ``line`` is the plan line that wrote it (0: real)."""

    __slots__ = ("kind", "line", "rlevel", "size", "wlevel")

    def __init__(self, kind: int, size: int, line: int, wlevel: int = NO_LEVEL) -> None:
        self.kind = kind
        self.size = size
        self.line = line
        self.wlevel = wlevel
        self.rlevel = NO_LEVEL


class Dir:
    """A directory, or a symlink (``kind`` LINK), which paths may walk through.

    ``real`` is where unloaded children are looked up; ``sub_w``/``sub_any`` are the highest
    levels of steps that wrote / touched something strictly below this location.
    """

    __slots__ = (
        "children", "keybase", "kind", "line", "real", "rlevel", "size", "sub_any", "sub_w",
        "wlevel",
    )  # fmt: skip

    def __init__(self, kind: int, line: int, real: bytes | None, keybase: bytes) -> None:
        self.kind = kind
        self.size = 0
        self.line = line
        self.real = real
        self.keybase = keybase
        self.children: dict[bytes, Leaf | Dir | Gone] | None = None
        self.wlevel = NO_LEVEL
        self.rlevel = NO_LEVEL
        self.sub_w = NO_LEVEL
        self.sub_any = NO_LEVEL


class Gone:
    """What a move or delete left behind; blocks the real entry from showing through."""

    __slots__ = ("how", "line", "wlevel")

    def __init__(self, line: int, how: int, wlevel: int) -> None:
        self.line = line
        self.how = how
        self.wlevel = wlevel


Entry = Leaf | Dir | Gone
Present = Leaf | Dir


@dataclass(slots=True)
class Lookup:
    """Where a walk to ``path`` ended.

    ``reached``: the parent directory exists and ``entry`` is what its child holds (None:
    nothing). Otherwise ``stop`` is the first ancestor that is missing (``stop_entry`` None),
    gone, or not a directory.
    """

    path: bytes
    ancestors: list[Dir]
    key: bytes
    entry: Entry | None
    reached: bool
    stop: bytes = b""
    stop_entry: Entry | None = None

    @property
    def parent(self) -> Dir:
        """The directory node holding the final name."""
        return self.ancestors[-1]

    @property
    def present(self) -> Present | None:
        """The entry when something is there."""
        entry = self.entry
        return entry if type(entry) is Leaf or type(entry) is Dir else None


class VirtualTree:
    """The overlay; see the module docstring."""

    def __init__(self, fs: FileSystemView) -> None:
        self.fs = fs
        self.root = Dir(DIR, 0, b"", b"")
        # Consecutive items mostly share a directory: the last walk's parent, reused while
        # no directory has been added, moved, replaced or removed (``_generation``).
        self._generation = 0
        self._last: tuple[bytes, int, list[Dir], bool] | None = None

    def _load(self, fingerprint: Fingerprint, real: bytes, key: bytes) -> Present:
        kind = fingerprint.kind
        if kind == stat.S_IFDIR:
            return Dir(DIR, 0, real, key)
        if kind == stat.S_IFLNK:
            return Dir(LINK, 0, real, key)
        return Leaf(FILE if kind == stat.S_IFREG else OTHER, fingerprint.size, 0)

    def _child(self, node: Dir, key: bytes, tail: bytes) -> Entry | None:
        children = node.children
        entry = children.get(key) if children is not None else None
        if entry is None and node.real is not None:
            real = node.real + tail
            fingerprint = self.fs.lstat(real)
            if fingerprint is not None:
                entry = self._load(fingerprint, real, key)
                if children is None:
                    children = node.children = {}
                children[key] = entry
        return entry

    def walk(self, path: bytes) -> Lookup:
        """Follow ``path`` (absolute, normalized) from the root, loading what it meets."""
        last = self._last
        cut = path.rfind(b"/")
        if last is not None and last[1] == self._generation and last[0] == path[:cut]:
            ancestors, aligned = last[2], last[3]
            node = ancestors[-1]
            tail = path[cut:]
            key = path if aligned else node.keybase + tail
            return Lookup(path, ancestors, key, self._child(node, key, tail), True)
        node = self.root
        ancestors = [node]
        aligned = True  # every node so far has keybase == location: keys are path prefixes
        start = 1
        while True:
            slash = path.find(b"/", start)
            final = slash < 0
            stop = len(path) if final else slash
            location = path if final else path[:stop]
            tail = path[start - 1 : stop]
            key = location if aligned else node.keybase + tail
            entry = self._child(node, key, tail)
            if final:
                self._last = (path[:cut], self._generation, ancestors, aligned)
                return Lookup(path, ancestors, key, entry, True)
            if type(entry) is not Dir:
                return Lookup(path, ancestors, key, None, False, location, entry)
            aligned = aligned and entry.keybase == location
            node = entry
            ancestors.append(node)
            start = stop + 1

    # -- levels ---------------------------------------------------------------------------

    @staticmethod
    def conflict_level(look: Lookup, write: bool) -> int:
        """The highest level among earlier steps that conflict with touching ``look.path``."""
        level = NO_LEVEL
        for node in look.ancestors:
            level = max(level, node.wlevel, node.rlevel if write else NO_LEVEL)
        entry = look.entry
        if type(entry) is Gone:
            level = max(level, entry.wlevel)
        elif type(entry) is Leaf or type(entry) is Dir:
            level = max(level, entry.wlevel, entry.rlevel if write else NO_LEVEL)
            if type(entry) is Dir:
                level = max(level, entry.sub_any if write else entry.sub_w)
        return level

    @staticmethod
    def note(look: Lookup, level: int, *, write: bool) -> None:
        """Record a step of ``level`` touching ``look.path`` (reads also mark the entry)."""
        for node in look.ancestors:
            node.sub_any = max(node.sub_any, level)
            if write and node.sub_w < level:
                node.sub_w = level
        entry = look.present
        if entry is not None:
            if write:
                entry.wlevel = max(entry.wlevel, level)
            else:
                entry.rlevel = max(entry.rlevel, level)

    # -- changes --------------------------------------------------------------------------

    def put(self, look: Lookup, entry: Entry) -> None:
        """Make ``entry`` what ``look.path`` holds (the parent must have been reached)."""
        parent = look.parent
        if parent.children is None:
            parent.children = {}
        if type(entry) is Dir or type(parent.children.get(look.key)) is Dir:
            self._generation += 1
        parent.children[look.key] = entry
        look.entry = entry

    @classmethod
    def clone(cls, entry: Present, line: int, level: int) -> Present:
        """A copy of ``entry`` and everything loaded below it; the copy is written by
        ``line``, what is inside keeps its lines (as unloaded real content does)."""
        if type(entry) is Leaf:
            return Leaf(entry.kind, entry.size, line, level)
        assert type(entry) is Dir
        copy = Dir(entry.kind, line, entry.real, entry.keybase)
        copy.wlevel = level
        if entry.children:
            children: dict[bytes, Entry] = {}
            for key, child in entry.children.items():
                if type(child) is Gone:
                    children[key] = child
                else:
                    child = cast(Present, child)
                    children[key] = cls.clone(child, child.line, NO_LEVEL)
            copy.children = children
        return copy
