"""The virtual tree loads lazily and keeps a moved directory's real content reachable."""

from __future__ import annotations

from batchd.daemon.plan import MemoryFileSystemView
from batchd.daemon.plan.tree import DIR, MOVED, Dir, Gone, Leaf, VirtualTree


class CountingView(MemoryFileSystemView):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def lstat(self, path: bytes):  # type: ignore[no-untyped-def]
        self.calls += 1
        return super().lstat(path)


def test_walk_loads_only_what_it_meets_and_caches_it() -> None:
    fs = CountingView()
    fs.add_file(b"/d/f", size=3)
    tree = VirtualTree(fs)
    look = tree.walk(b"/d/f")
    assert isinstance(look.present, Leaf) and look.present.size == 3
    calls = fs.calls
    assert tree.walk(b"/d/f").present is look.present
    assert fs.calls == calls
    missing = tree.walk(b"/nope/x")
    assert not missing.reached and missing.stop == b"/nope" and missing.stop_entry is None


def test_moved_directory_still_finds_its_real_children() -> None:
    fs = MemoryFileSystemView()
    fs.add_file(b"/d/f")
    tree = VirtualTree(fs)
    source, dest = tree.walk(b"/d"), tree.walk(b"/e")
    node = source.present
    assert isinstance(node, Dir) and node.kind == DIR
    tree.put(source, Gone(1, MOVED, 0))
    tree.put(dest, node)
    assert isinstance(tree.walk(b"/e/f").present, Leaf)
    gone = tree.walk(b"/d/f")
    assert not gone.reached and isinstance(gone.stop_entry, Gone)


def test_conflict_levels_follow_reads_writes_and_subtrees() -> None:
    fs = MemoryFileSystemView()
    fs.add_file(b"/d/f")
    tree = VirtualTree(fs)
    look = tree.walk(b"/d/f")
    tree.note(look, 0, write=False)
    assert VirtualTree.conflict_level(tree.walk(b"/d/f"), False) == -1  # read after read
    assert VirtualTree.conflict_level(tree.walk(b"/d/f"), True) == 0
    assert VirtualTree.conflict_level(tree.walk(b"/d"), True) == 0  # the directory above
    assert VirtualTree.conflict_level(tree.walk(b"/d"), False) == -1


def test_cached_directories_follow_moves_and_replacements() -> None:
    fs = CountingView()
    fs.add_file(b"/d/s/f")
    fs.add_file(b"/d/s/g")
    tree = VirtualTree(fs)
    assert isinstance(tree.walk(b"/d/s/f").present, Leaf)
    calls = fs.calls
    assert isinstance(tree.walk(b"/d/s/g").present, Leaf)
    assert fs.calls == calls + 1  # the directories on the way were not asked again
    # A new directory where there was none keeps the cache; moving one away empties it.
    new = tree.walk(b"/d/n")
    tree.put(new, Dir(DIR, 1, None, b"/d/n"))
    assert tree.walk(b"/d/n/x").reached and tree.walk(b"/d/s/f").present is not None
    source = tree.walk(b"/d/s")
    node = source.present
    assert isinstance(node, Dir)
    tree.put(source, Gone(2, MOVED, 0))
    tree.put(tree.walk(b"/e"), node)
    gone = tree.walk(b"/d/s/f")
    assert not gone.reached and gone.stop == b"/d/s" and isinstance(gone.stop_entry, Gone)
    assert isinstance(tree.walk(b"/e/f").present, Leaf)
    # ... and a directory put back where one was gone is found again.
    back = tree.walk(b"/d/s")
    tree.put(back, Dir(DIR, 3, None, b"/d/s"))
    assert tree.walk(b"/d/s/f").reached and tree.walk(b"/d/s/f").present is None
