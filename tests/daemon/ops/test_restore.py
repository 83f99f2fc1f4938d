"""restore: an undo-store entry back at its path — by link (entry kept), by rename (a
directory), by copy (another filesystem); conflicts, overwrite into the batch's own store,
re-runs that converge."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from ops_helpers import BATCH, read, snapshot, step, temps_in, write

from batchd.daemon.ops.env import OpEnv
from batchd.daemon.ops.names import temp_beside
from batchd.daemon.ops.runner import run_step
from batchd.daemon.ops.step import ErrorKind, Fingerprint, OpKind, Step

FORWARD = 1


def _kept(env: OpEnv, tree: Path, name: str, data: bytes = b"original", index: int = 0) -> bytes:
    """Delete ``tree/name`` in batch FORWARD's store (by rename, like delete) and return the
    store entry."""
    path = os.fsencode(write(tree / name, data, 0o640, mtime=1_000_000))
    return env.undo.keep_by_rename(path, FORWARD, index).entry


def _restore(path: Path, entry: bytes, **kw: object) -> Step:
    return step(OpKind.RESTORE, path, entry, **kw)


def test_file_comes_back_with_its_inode_and_the_entry_stays(env: OpEnv, tree: Path) -> None:
    entry = _kept(env, tree, "a")
    inode = os.lstat(entry).st_ino
    outcome = run_step(_restore(tree / "a", entry), env)
    assert outcome.ok, outcome
    info = os.lstat(tree / "a")
    assert (info.st_ino, info.st_mode & 0o777, info.st_mtime_ns) == (inode, 0o640, 10**15)
    assert read(tree / "a") == b"original" and os.path.exists(entry)
    assert outcome.post == Fingerprint.of(info) and len(outcome.digest) == 16
    assert temps_in(tree) == []


def test_symlink_entry_comes_back_as_a_link(env: OpEnv, tree: Path) -> None:
    (tree / "l").symlink_to("somewhere")
    entry = env.undo.keep_by_rename(os.fsencode(tree / "l"), FORWARD, 0).entry
    assert run_step(_restore(tree / "l", entry), env).ok
    assert os.readlink(tree / "l") == "somewhere"


def test_directory_entry_comes_back_by_rename(env: OpEnv, tree: Path) -> None:
    (tree / "d/e").mkdir(parents=True)
    write(tree / "d/e/x", b"x")
    before = snapshot(tree)
    inode = os.lstat(tree / "d").st_ino
    entry = env.undo.keep_by_rename(os.fsencode(tree / "d"), FORWARD, 0).entry
    assert run_step(_restore(tree / "d", entry), env).ok
    assert snapshot(tree) == before and os.lstat(tree / "d").st_ino == inode
    assert not os.path.exists(entry)  # consumed
    again = run_step(_restore(tree / "d", entry), env)  # a re-run after a crash
    assert again.ok and again.result == "already done"


def test_already_done(env: OpEnv, tree: Path) -> None:
    entry = _kept(env, tree, "a")
    assert run_step(_restore(tree / "a", entry), env).ok
    again = run_step(_restore(tree / "a", entry), env)
    assert again.ok and again.result == "already done"


def test_re_created_path_is_a_conflict_left_alone(env: OpEnv, tree: Path) -> None:
    entry = _kept(env, tree, "a")
    write(tree / "a", b"someone else's")
    outcome = run_step(_restore(tree / "a", entry), env)
    assert outcome.error_kind == ErrorKind.PERMANENT
    assert outcome.error.startswith(f"{tree / 'a'} was re-created since")
    assert read(tree / "a") == b"someone else's" and temps_in(tree) == []


def test_overwrite_keeps_what_was_there_in_this_batch_store(env: OpEnv, tree: Path) -> None:
    entry = _kept(env, tree, "a")
    newer = write(tree / "a", b"newer")
    newer_inode = os.lstat(newer).st_ino
    assert run_step(_restore(tree / "a", entry, overwrite=True, index=4), env).ok
    assert read(tree / "a") == b"original"
    displaced = env.undo.path_for(BATCH, 4)
    assert read(displaced) == b"newer" and os.lstat(displaced).st_ino == newer_inode


def test_overwrite_of_a_directory_by_a_file(env: OpEnv, tree: Path) -> None:
    entry = _kept(env, tree, "a")
    (tree / "a").mkdir()
    write(tree / "a/inside")
    assert run_step(_restore(tree / "a", entry, overwrite=True), env).ok
    assert read(tree / "a") == b"original"
    assert read(env.undo.path_for(BATCH, 0) + b"/inside") == b"content"
    assert temps_in(tree) == []


def test_overwrite_without_rollback_removes_what_was_there(
    make_env: Callable[..., OpEnv], tree: Path
) -> None:
    env = make_env(enable_rollback=False)
    (tree / "d").mkdir()
    entry = env.undo.keep_by_rename(os.fsencode(tree / "d"), FORWARD, 0).entry
    write(tree / "d", b"a file now")
    assert run_step(_restore(tree / "d", entry, overwrite=True), env).ok
    assert os.path.isdir(tree / "d") and temps_in(tree) == []


def test_missing_entry(env: OpEnv, tree: Path) -> None:
    entry = env.undo.path_for(FORWARD, 9)
    outcome = run_step(_restore(tree / "a", entry), env)
    assert outcome.error_kind == ErrorKind.PERMANENT
    assert outcome.error == f"the undo data of this item is gone: {os.fsdecode(entry)}"


def test_missing_parent_is_named_and_the_entry_kept(env: OpEnv, tree: Path) -> None:
    entry = _kept(env, tree, "a")
    outcome = run_step(_restore(tree / "gone/a", entry), env)
    assert outcome.error_kind == ErrorKind.PERMANENT
    assert outcome.error == f"the directory to restore into does not exist: {tree / 'gone'}"
    assert read(entry) == b"original"


def test_across_filesystems_by_copy(
    make_env: Callable[..., OpEnv], tree: Path, tmpfs: Callable[..., Path]
) -> None:
    env = make_env(store=tmpfs("store") / "undo")
    (tree / "d").mkdir(mode=0o750)
    write(tree / "d/x", b"x", 0o600, mtime=2_000_000)
    write(tree / "f", b"file", 0o640, mtime=3_000_000)
    before = snapshot(tree)
    entries = [env.undo.keep(os.fsencode(tree / n), FORWARD, i, will_replace=False).entry
               for i, n in enumerate(["d", "f"])]  # fmt: skip
    for name in ("d", "f"):
        env.fs.remove_tree(os.fsencode(tree / name))
    for index, name in enumerate(["d", "f"]):
        assert run_step(_restore(tree / name, entries[index], index=index), env).ok
    assert snapshot(tree) == before and temps_in(tree) == []
    assert all(os.path.exists(entry) for entry in entries)  # copies: the entries stay


def test_converged_finishes_an_interrupted_restore(env: OpEnv, tree: Path) -> None:
    entry = _kept(env, tree, "a")
    newer = write(tree / "a", b"newer")
    expected = Fingerprint.of(os.lstat(newer))
    the_step = _restore(tree / "a", entry, overwrite=True)
    # A directory in the way would be displaced first; emulate a crash right after that
    # displacement for a file: it is in this batch's store and the path is empty.
    env.undo.keep_by_rename(os.fsencode(newer), BATCH, 0)
    outcome = run_step(the_step, env, expected)
    assert outcome.ok and read(tree / "a") == b"original"


def test_converged_finishes_from_the_temp(env: OpEnv, tree: Path) -> None:
    entry = _kept(env, tree, "a")
    temp = temp_beside(os.fsencode(tree / "a"), BATCH, 0)
    os.link(entry, temp)  # crashed between link(entry, temp) and the rename
    expected = Fingerprint(1, 2, 3, 4, 0o100644)  # an INTENT whose pre no longer matches
    outcome = run_step(_restore(tree / "a", entry, overwrite=True), env, expected)
    assert outcome.ok and read(tree / "a") == b"original" and temps_in(tree) == []


def test_converged_refuses_someone_elses_file(env: OpEnv, tree: Path) -> None:
    entry = _kept(env, tree, "a")
    expected = Fingerprint.of(os.lstat(write(tree / "a", b"planned")))
    write(tree / "b", b"other")
    os.replace(tree / "b", tree / "a")
    outcome = run_step(_restore(tree / "a", entry, overwrite=True), env, expected)
    assert not outcome.ok and read(tree / "a") == b"other"


def test_cut_short_link_unlink_rename_is_done_and_tidied(env: OpEnv, tree: Path) -> None:
    entry = _kept(env, tree, "a")
    temp = temp_beside(os.fsencode(tree / "a"), BATCH, 0)
    os.link(entry, temp)
    os.link(entry, tree / "a")  # the fallback's link happened, its unlink did not
    outcome = run_step(_restore(tree / "a", entry), env)
    assert outcome.result == "already done" and temps_in(tree) == []
