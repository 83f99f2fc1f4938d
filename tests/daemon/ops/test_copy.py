"""copy: content/mode/mtime, link commit, overwrite with undo, symlinks, trees, across
filesystems, ENOSPC, convergence."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from ops_helpers import BATCH, read, snapshot, step, temps_in, write

from batchd.daemon.ops.env import OpEnv
from batchd.daemon.ops.names import temp_beside
from batchd.daemon.ops.runner import run_step
from batchd.daemon.ops.step import ErrorKind, Fingerprint, OpKind, Step


def copy(src: Path | bytes, dst: Path | bytes, **kw: object) -> Step:
    return step(OpKind.COPY, src, dst, **kw)


def test_file_copy_keeps_content_mode_mtime(env: OpEnv, tree: Path) -> None:
    src = write(tree / "a", b"\x00binary\xff" * 1000, 0o604, mtime=1_111_111)
    outcome = run_step(copy(src, tree / "b"), env)
    assert outcome.ok, outcome
    assert snapshot(tree)[b"b"] == snapshot(tree)[b"a"]
    assert os.lstat(tree / "b").st_ino != os.lstat(src).st_ino
    assert os.lstat(tree / "b").st_nlink == 1  # the temp link is gone
    assert temps_in(tree) == []
    assert outcome.post == Fingerprint.of(os.lstat(tree / "b"))


def test_tree_copy_with_symlinks(env: OpEnv, tree: Path) -> None:
    (tree / "d/sub").mkdir(parents=True)
    write(tree / "d/sub/x", b"x", 0o700, mtime=5_000_000)
    (tree / "d/link").symlink_to("sub/x")
    (tree / "d/dangling").symlink_to("/nowhere")
    assert run_step(copy(tree / "d", tree / "e"), env).ok
    assert snapshot(tree / "e") == snapshot(tree / "d")


def test_symlink_copied_as_link(env: OpEnv, tree: Path) -> None:
    write(tree / "target", b"t")
    (tree / "link").symlink_to("target")
    assert run_step(copy(tree / "link", tree / "copy"), env).ok
    assert os.readlink(tree / "copy") == "target"


def test_appeared_destination(env: OpEnv, tree: Path) -> None:
    write(tree / "a", b"a")
    write(tree / "b", b"theirs")
    outcome = run_step(copy(tree / "a", tree / "b"), env)
    assert outcome.error_kind == ErrorKind.PERMANENT and "appeared" in outcome.error
    assert (tree / "b").read_bytes() == b"theirs" and temps_in(tree) == []


def test_overwrite_keeps_old_in_undo_store(env: OpEnv, tree: Path) -> None:
    write(tree / "a", b"new")
    old = write(tree / "b", b"old")
    old_ino = os.lstat(old).st_ino
    assert run_step(copy(tree / "a", old, overwrite=True, index=4), env).ok
    assert old.read_bytes() == b"new"
    kept = env.undo.path_for(BATCH, 4)
    assert os.lstat(kept).st_ino == old_ino and read(kept) == b"old"


def test_directory_onto_file_refused(env: OpEnv, tree: Path) -> None:
    (tree / "d").mkdir()
    write(tree / "f")
    outcome = run_step(copy(tree / "d", tree / "f", overwrite=True), env)
    assert "refusing" in outcome.error and temps_in(tree) == []


def test_vanished_source(env: OpEnv, tree: Path) -> None:
    outcome = run_step(copy(tree / "gone", tree / "b"), env)
    assert "source vanished" in outcome.error and outcome.error_kind == ErrorKind.PERMANENT


def test_across_filesystems(env: OpEnv, tree: Path, tmpfs: Callable[..., Path]) -> None:
    mnt = tmpfs("other")
    write(tree / "a", b"a" * 5000, 0o640, mtime=1_000_000)
    assert run_step(copy(tree / "a", mnt / "a"), env).ok
    assert snapshot(mnt)[b"a"] == snapshot(tree)[b"a"]


def test_enospc_is_no_space_and_cleans_up(
    env: OpEnv, tree: Path, tmpfs: Callable[..., Path]
) -> None:
    mnt = tmpfs("tiny", "256k")
    write(tree / "big", os.urandom(1 << 20))
    before = snapshot(tree)
    outcome = run_step(copy(tree / "big", mnt / "big"), env)
    assert outcome.error_kind == ErrorKind.NO_SPACE
    assert "no space left on device while copying" in outcome.error
    assert os.listdir(mnt) == [] and snapshot(tree) == before


def test_rerun_with_expected_is_already_done(env: OpEnv, tree: Path) -> None:
    src = write(tree / "a", b"a")
    expected = Fingerprint.of(os.lstat(src))
    assert run_step(copy(src, tree / "b"), env, expected).ok
    again = run_step(copy(src, tree / "b"), env, expected)
    assert again.ok and again.result == "already done"
    assert sorted(os.listdir(tree)) == ["a", "b"]


def test_crash_between_link_and_unlink_converges(env: OpEnv, tree: Path) -> None:
    src = write(tree / "a", b"a")
    temp = temp_beside(os.fsencode(tree / "b"), BATCH, 0)
    os.link(src, temp)
    os.link(temp, tree / "b")  # the crash state: temp and dst share an inode
    outcome = run_step(copy(src, tree / "b"), env, Fingerprint.of(os.lstat(src)))
    assert outcome.ok and outcome.result == "already done"
    assert temps_in(tree) == []


def test_stale_temp_is_replaced(env: OpEnv, tree: Path) -> None:
    write(tree / "a", b"fresh")
    Path(os.fsdecode(temp_beside(os.fsencode(tree / "b"), BATCH, 0))).write_bytes(b"partial")
    assert run_step(copy(tree / "a", tree / "b"), env).ok
    assert (tree / "b").read_bytes() == b"fresh" and temps_in(tree) == []
