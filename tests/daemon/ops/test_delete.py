"""delete: into the undo store by rename or copy, without rollback, hard links, symlinks,
trees, convergence."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from ops_helpers import BATCH, snapshot, step, temps_in, write

from batchd.daemon.ops.env import OpEnv
from batchd.daemon.ops.runner import run_step
from batchd.daemon.ops.step import ErrorKind, Fingerprint, OpKind


def test_file_goes_to_undo_store_by_rename(env: OpEnv, tree: Path) -> None:
    path = write(tree / "old.log", b"log", 0o600, mtime=1_000_000)
    info = os.lstat(path)
    outcome = run_step(step(OpKind.DELETE, path, index=2), env)
    assert outcome.ok and outcome.post is None
    kept = env.undo.path_for(BATCH, 2)
    assert (os.lstat(kept).st_ino, os.lstat(kept).st_mtime_ns) == (info.st_ino, info.st_mtime_ns)
    assert not path.exists()
    assert oct(os.stat(os.path.dirname(kept)).st_mode & 0o777) == oct(0o700)


def test_tree_and_symlink_go_whole(env: OpEnv, tree: Path) -> None:
    (tree / "d/sub").mkdir(parents=True)
    write(tree / "d/sub/x")
    write(tree / "target", b"keep me")
    (tree / "link").symlink_to("target")
    before = snapshot(tree / "d")
    assert run_step(step(OpKind.DELETE, tree / "d", index=0), env).ok
    assert run_step(step(OpKind.DELETE, tree / "link", index=1), env).ok
    assert snapshot(os.fsdecode(env.undo.path_for(BATCH, 0))) == before
    assert os.readlink(env.undo.path_for(BATCH, 1)) == b"target"
    assert (tree / "target").read_bytes() == b"keep me" and sorted(os.listdir(tree)) == ["target"]


def test_hard_linked_file_keeps_other_names(env: OpEnv, tree: Path) -> None:
    write(tree / "a", b"shared")
    os.link(tree / "a", tree / "b")
    assert run_step(step(OpKind.DELETE, tree / "a"), env).ok
    assert (tree / "b").read_bytes() == b"shared"


def test_without_rollback_removes(make_env: Callable[..., OpEnv], tree: Path) -> None:
    env = make_env(enable_rollback=False)
    (tree / "d/sub").mkdir(parents=True)
    write(tree / "d/sub/x")
    (tree / "dangling").symlink_to("nowhere")
    assert run_step(step(OpKind.DELETE, tree / "d"), env).ok
    assert run_step(step(OpKind.DELETE, tree / "dangling", index=1), env).ok
    assert os.listdir(tree) == [] and not os.path.exists(env.undo.root)


def test_across_filesystems_copies_into_store(
    env: OpEnv, tree: Path, tmpfs: Callable[..., Path]
) -> None:
    mnt = tmpfs("other")
    (mnt / "d").mkdir()
    write(mnt / "d/x", b"x", 0o640, mtime=1_000_000)
    before = snapshot(mnt / "d")
    assert run_step(step(OpKind.DELETE, mnt / "d"), env).ok
    assert os.listdir(mnt) == []
    assert snapshot(os.fsdecode(env.undo.path_for(BATCH, 0))) == before


def test_vanished_is_permanent_and_rerun_converges(env: OpEnv, tree: Path) -> None:
    path = write(tree / "a")
    expected = Fingerprint.of(os.lstat(path))
    assert run_step(step(OpKind.DELETE, path), env, expected).ok
    again = run_step(step(OpKind.DELETE, path), env, expected)
    assert again.ok and again.result == "already done"
    blind = run_step(step(OpKind.DELETE, path), env)
    assert blind.error_kind == ErrorKind.PERMANENT and "vanished" in blind.error


def test_interrupted_tree_removal_is_finished(make_env: Callable[..., OpEnv], tree: Path) -> None:
    env = make_env(enable_rollback=False)
    (tree / "d").mkdir()
    write(tree / "d/x")
    expected = Fingerprint.of(os.lstat(tree / "d"))
    os.rename(tree / "d", tree / f".batchd-tmp-{BATCH}-0")  # the crash state
    outcome = run_step(step(OpKind.DELETE, tree / "d"), env, expected)
    assert outcome.ok and temps_in(tree) == [] and os.listdir(tree) == []
