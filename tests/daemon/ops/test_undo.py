"""UndoStore: layout, the three ways to keep, choosing by device, never replacing an entry."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from ops_helpers import read, snapshot, write

from batchd.daemon.ops.fs import FileSystem
from batchd.daemon.ops.undo import UndoStore


@pytest.fixture
def store(tmp_path: Path) -> UndoStore:
    return UndoStore(tmp_path / "state" / "undo", FileSystem())


def test_layout_and_modes(store: UndoStore, tree: Path) -> None:
    assert store.path_for(3, 9) == os.fsencode(store.root) + b"/3/9"
    assert store.path_for(3, 9, 2).endswith(b"/3/9.2")
    kept = store.keep(os.fsencode(write(tree / "a")), 3, 9, will_replace=False)
    assert kept.how == "rename" and kept.entry == store.path_for(3, 9)
    for directory in (store.root, os.path.dirname(kept.entry)):
        assert os.lstat(directory).st_mode & 0o777 == 0o700


def test_link_freezes_old_inode(store: UndoStore, tree: Path) -> None:
    path = write(tree / "a", b"old")
    kept = store.keep(os.fsencode(path), 1, 0, will_replace=True)
    assert kept.how == "link" and path.exists()
    os.replace(write(tree / "new", b"new"), path)
    assert read(kept.entry) == b"old"


def test_link_accepts_same_inode_refuses_other(store: UndoStore, tree: Path) -> None:
    path = os.fsencode(write(tree / "a"))
    store.keep_by_link(path, 1, 0)
    store.keep_by_link(path, 1, 0)  # a crashed attempt's entry: same inode, accepted
    with pytest.raises(FileExistsError):
        store.keep_by_link(os.fsencode(write(tree / "b")), 1, 0)


def test_copy_verified_and_never_replaced(store: UndoStore, tree: Path) -> None:
    (tree / "d").mkdir()
    write(tree / "d/x", b"x", 0o600, mtime=1_000_000)
    (tree / "d/l").symlink_to("x")
    kept = store.keep_by_copy(os.fsencode(tree / "d"), 2, 0)
    assert kept.how == "copy" and snapshot(os.fsdecode(kept.entry)) == snapshot(tree / "d")
    write(tree / "d/x", b"modified")
    store.keep_by_copy(os.fsencode(tree / "d"), 2, 0)
    assert read(kept.entry + b"/x") == b"x"  # the earliest original wins
    assert not os.path.exists(kept.entry + b".tmp")


def test_other_device_is_kept_by_copy(store: UndoStore, tmpfs: Callable[..., Path]) -> None:
    mnt = tmpfs("other")
    path = os.fsencode(write(mnt / "a", b"on tmpfs"))
    kept = store.keep(path, 1, 0, will_replace=False)
    assert kept.how == "copy" and os.path.exists(path)
    assert read(kept.entry) == b"on tmpfs"
