"""The real filesystem view and the in-memory fake answer alike."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from batchd.daemon.plan import FileSystemView, MemoryFileSystemView, OsFileSystemView


def build_real(root: Path) -> None:
    (root / "d").mkdir()
    (root / "d" / "f").write_bytes(b"12345")
    os.symlink("d", root / "to_d")
    os.symlink("/nowhere/at/all", root / "dangling")


def build_fake(root: Path) -> MemoryFileSystemView:
    fs = MemoryFileSystemView()
    base = os.fsencode(root)
    fs.add_file(base + b"/d/f", size=5)
    fs.add_symlink(base + b"/to_d", b"d")
    fs.add_symlink(base + b"/dangling", b"/nowhere/at/all")
    return fs


@pytest.mark.parametrize("kind", ["real", "fake"])
def test_views_agree(tmp_path: Path, kind: str) -> None:
    view: FileSystemView
    if kind == "real":
        build_real(tmp_path)
        view = OsFileSystemView()
    else:
        view = build_fake(tmp_path)
    base = os.fsencode(tmp_path)

    def kind_of(name: bytes) -> int | None:
        found = view.lstat(base + name)
        return None if found is None else found.kind

    assert kind_of(b"/d") == stat.S_IFDIR
    assert kind_of(b"/d/f") == stat.S_IFREG
    found = view.lstat(base + b"/d/f")
    assert found is not None and found.size == 5
    assert kind_of(b"/to_d") == stat.S_IFLNK
    assert kind_of(b"/to_d/f") == stat.S_IFREG  # intermediate symlinks are followed
    assert kind_of(b"/dangling") == stat.S_IFLNK
    assert kind_of(b"/missing") is None
    assert kind_of(b"/d/f/under_a_file") is None
    assert kind_of(b"/dangling/x") is None
    assert view.is_dir(base + b"/d") and view.is_dir(base + b"/to_d")
    assert not view.is_dir(base + b"/d/f") and not view.is_dir(base + b"/dangling")
    assert not view.is_dir(base + b"/missing")


def test_real_view_reports_other_errors(tmp_path: Path) -> None:
    # Root reads everything, so the lookup runs in a child that dropped to "nobody".
    (tmp_path / "closed").mkdir(mode=0)
    target = os.fsencode(tmp_path / "closed" / "x")
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 3
        try:
            if os.geteuid() == 0:
                os.setresgid(65534, 65534, 65534)
                os.setresuid(65534, 65534, 65534)
            OsFileSystemView().lstat(target)
            code = 1
        except PermissionError:
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_fake_folds_case_when_asked() -> None:
    fs = MemoryFileSystemView(fold_case=True)
    fs.add_file(b"/w/Photo.JPG")
    one, other = fs.lstat(b"/w/Photo.JPG"), fs.lstat(b"/W/photo.jpg")
    assert one is not None and one == other
    assert MemoryFileSystemView().lstat(b"/w/photo.jpg") is None


def test_fake_refuses_entries_under_a_file() -> None:
    fs = MemoryFileSystemView()
    fs.add_file(b"/a")
    with pytest.raises(ValueError, match="not a directory"):
        fs.add_file(b"/a/b")
    with pytest.raises(ValueError, match="absolute"):
        fs.add_file(b"a")
