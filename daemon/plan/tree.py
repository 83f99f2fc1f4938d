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
_MAX_CACHED_DIRS: Final = 4096


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
        # Directories reached so far: location -> (nodes from the root down to it, whether
        # every node's keybase is its location). Locations below a directory that is
        # replaced or removed go stale, so that empties the cache; adding a directory where
        # there was none cannot (nothing was cached below it).
        self._dirs: dict[bytes, tuple[list[Dir], bool]] = {b"": ([self.root], True)}

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
        cut = path.rfind(b"/")
        reached = self._dirs.get(path[:cut]) or self._reach(path, cut)
        if type(reached) is Lookup:
            return reached
        ancestors, aligned = cast(tuple[list[Dir], bool], reached)
        node = ancestors[-1]
        tail = path[cut:]
        key = path if aligned else node.keybase + tail
        return Lookup(path, ancestors, key, self._child(node, key, tail), True)

    def _reach(self, path: bytes, cut: int) -> tuple[list[Dir], bool] | Lookup:
        """Walk to the directory ``path[:cut]`` from its nearest cached ancestor, caching
        every directory on the way; a ``Lookup`` that did not reach it if one is missing."""
        dirs = self._dirs
        if len(dirs) > _MAX_CACHED_DIRS:
            self._forget_dirs()
        end = path.rfind(b"/", 0, cut)
        while (found := dirs.get(path[:end])) is None:
            end = path.rfind(b"/", 0, end)
        ancestors, aligned = found
        node = ancestors[-1]
        start = end + 1
        while start <= cut:
            stop = path.find(b"/", start, cut)
            if stop < 0:
                stop = cut
            location = path[:stop]
            tail = path[start - 1 : stop]
            key = location if aligned else node.keybase + tail
            entry = self._child(node, key, tail)
            if type(entry) is not Dir:
                return Lookup(path, ancestors, key, None, False, location, entry)
            aligned = aligned and entry.keybase == location
            node = entry
            ancestors = [*ancestors, node]
            dirs[location] = (ancestors, aligned)
            start = stop + 1
        return ancestors, aligned

    def _forget_dirs(self) -> None:
        self._dirs = {b"": ([self.root], True)}

    # -- levels ---------------------------------------------------------------------------

    @staticmethod
    def conflict_level(look: Lookup, write: bool) -> int:
        """The highest level among earlier steps that conflict with touching ``look.path``."""
        level = NO_LEVEL
        # Conditional expressions, not max(): this runs for every step, on every ancestor.
        if write:
            for node in look.ancestors:
                level = node.wlevel if node.wlevel > level else level
                level = node.rlevel if node.rlevel > level else level
        else:
            for node in look.ancestors:
                level = node.wlevel if node.wlevel > level else level
        entry = look.entry
        kind = type(entry)
        if kind is Gone:
            return max(level, cast(Gone, entry).wlevel)
        if kind is Leaf:
            leaf = cast(Leaf, entry)
            return max(level, leaf.wlevel, leaf.rlevel) if write else max(level, leaf.wlevel)
        if kind is Dir:
            node = cast(Dir, entry)
            if write:
                return max(level, node.wlevel, node.rlevel, node.sub_any)
            return max(level, node.wlevel, node.sub_w)
        return level

    @staticmethod
    def note(look: Lookup, level: int, *, write: bool) -> None:
        """Record a step of ``level`` touching ``look.path`` (reads also mark the entry)."""
        for node in look.ancestors:
            node.sub_any = level if node.sub_any < level else node.sub_any
            if write and node.sub_w < level:
                node.sub_w = level
        entry = look.entry
        kind = type(entry)
        if kind is Leaf or kind is Dir:
            present = cast(Present, entry)
            if write:
                present.wlevel = level if present.wlevel < level else present.wlevel
            else:
                present.rlevel = level if present.rlevel < level else present.rlevel

    # -- changes --------------------------------------------------------------------------

    def put(self, look: Lookup, entry: Entry) -> None:
        """Make ``entry`` what ``look.path`` holds (the parent must have been reached)."""
        parent = look.parent
        children = parent.children
        if children is None:
            children = parent.children = {}
        elif type(children.get(look.key)) is Dir:
            self._forget_dirs()
        children[look.key] = entry
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
