"""move: same filesystem, overwrite, refusals, symlinks, case-only, bytes names, across
filesystems (tmpfs), ENOSPC, permission denied, convergence."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from ops_helpers import BATCH, snapshot, step, temps_in, write

from batchd.daemon.ops.env import OpEnv
from batchd.daemon.ops.fs import FileSystem
from batchd.daemon.ops.names import temp_beside
from batchd.daemon.ops.runner import run_step
from batchd.daemon.ops.step import ErrorKind, Fingerprint, OpKind


def move(src: Path | bytes, dst: Path | bytes, **kw: object):  # type: ignore[no-untyped-def]
    return step(OpKind.MOVE, src, dst, **kw)


def test_same_filesystem_keeps_inode_content_mode_mtime(env: OpEnv, tree: Path) -> None:
    src = write(tree / "a.jpg", b"jpeg bytes", 0o640, mtime=1_000_000)
    before = os.lstat(src)
    (tree / "sorted").mkdir()
    outcome = run_step(move(src, tree / "sorted/a.jpg"), env)
    assert outcome.ok, outcome
    after = os.lstat(tree / "sorted/a.jpg")
    assert (after.st_ino, after.st_mode, after.st_mtime_ns) == (
        before.st_ino,
        before.st_mode,
        before.st_mtime_ns,
    )
    assert (tree / "sorted/a.jpg").read_bytes() == b"jpeg bytes"
    assert not src.exists()
    assert outcome.post == Fingerprint.of(after)


def test_vanished_source_is_permanent(env: OpEnv, tree: Path) -> None:
    outcome = run_step(move(tree / "gone", tree / "b"), env)
    assert not outcome.ok and outcome.error_kind == ErrorKind.PERMANENT
    assert "source vanished since the plan was validated" in outcome.error
    assert str(tree / "gone") in outcome.error


def test_appeared_destination_without_overwrite_is_refused(env: OpEnv, tree: Path) -> None:
    write(tree / "a", b"new")
    write(tree / "b", b"theirs")
    outcome = run_step(move(tree / "a", tree / "b"), env)
    assert outcome.error_kind == ErrorKind.PERMANENT
    assert "destination appeared" in outcome.error and '"overwrite": true' in outcome.error
    assert (tree / "a").read_bytes() == b"new" and (tree / "b").read_bytes() == b"theirs"


def test_overwrite_keeps_old_destination_in_undo_store(env: OpEnv, tree: Path) -> None:
    src = write(tree / "a", b"new")
    dst = write(tree / "b", b"old")
    old_ino = os.lstat(dst).st_ino
    outcome = run_step(move(src, dst, overwrite=True, index=3), env)
    assert outcome.ok, outcome
    assert dst.read_bytes() == b"new"
    kept = env.undo.path_for(BATCH, 3)
    assert Path(os.fsdecode(kept)).read_bytes() == b"old"
    assert os.lstat(kept).st_ino == old_ino  # hardlinked: the old inode itself


def test_overwrite_without_rollback_keeps_nothing(
    make_env: Callable[..., OpEnv], tree: Path
) -> None:
    env = make_env(enable_rollback=False)
    write(tree / "a", b"new")
    write(tree / "b", b"old")
    assert run_step(move(tree / "a", tree / "b", overwrite=True), env).ok
    assert (tree / "b").read_bytes() == b"new"
    assert not os.path.exists(env.undo.path_for(BATCH, 0))


@pytest.mark.parametrize("overwrite", [False, True])
def test_directory_onto_file_and_file_onto_directory_refused(
    env: OpEnv, tree: Path, overwrite: bool
) -> None:
    (tree / "d").mkdir()
    write(tree / "f")
    for src, dst in [("d", "f"), ("f", "d")]:
        outcome = run_step(move(tree / src, tree / dst, overwrite=overwrite), env)
        assert outcome.error_kind == ErrorKind.PERMANENT, outcome
        assert ("refusing" in outcome.error) if overwrite else ("appeared" in outcome.error)
    assert (tree / "d").is_dir() and (tree / "f").is_file()


def test_directory_onto_directory_never_merged(env: OpEnv, tree: Path) -> None:
    (tree / "d").mkdir()
    (tree / "e").mkdir()
    outcome = run_step(move(tree / "d", tree / "e", overwrite=True), env)
    assert "merge" in outcome.error and outcome.error_kind == ErrorKind.PERMANENT


def test_directory_tree_moves_whole(env: OpEnv, tree: Path) -> None:
    (tree / "d/sub").mkdir(parents=True)
    write(tree / "d/sub/x", b"x")
    before = snapshot(tree / "d")
    assert run_step(move(tree / "d", tree / "e"), env).ok
    assert snapshot(tree / "e") == before and not (tree / "d").exists()


def test_dangling_symlink_moved_as_link(env: OpEnv, tree: Path) -> None:
    (tree / "link").symlink_to("nowhere")
    assert run_step(move(tree / "link", tree / "moved"), env).ok
    assert os.readlink(tree / "moved") == "nowhere" and not (tree / "link").is_symlink()


def test_symlink_to_file_moves_link_not_target(env: OpEnv, tree: Path) -> None:
    write(tree / "target", b"t")
    (tree / "link").symlink_to("target")
    assert run_step(move(tree / "link", tree / "moved"), env).ok
    assert (tree / "moved").is_symlink() and (tree / "target").read_bytes() == b"t"


def test_case_only_rename(env: OpEnv, tree: Path) -> None:
    write(tree / "photo.JPG", b"img")
    assert run_step(move(tree / "photo.JPG", tree / "photo.jpg"), env).ok
    assert os.listdir(tree) == ["photo.jpg"]


def test_hard_link_alias_needs_overwrite(env: OpEnv, tree: Path) -> None:
    write(tree / "a", b"same")
    os.link(tree / "a", tree / "b")
    assert "appeared" in run_step(move(tree / "a", tree / "b"), env).error
    assert run_step(move(tree / "a", tree / "b", overwrite=True), env).ok
    assert os.listdir(tree) == ["b"] and (tree / "b").read_bytes() == b"same"


def test_non_utf8_names(env: OpEnv, tree: Path) -> None:
    base = os.fsencode(tree)
    src, dst = os.path.join(base, b"caf\xe9"), os.path.join(base, b"na\xefve")
    with open(src, "wb") as handle:
        handle.write(b"latin-1")
    assert run_step(move(src, dst), env).ok
    assert os.listdir(base) == [b"na\xefve"]
    missing = run_step(move(src, dst), env)
    assert "caf" in missing.error  # shown, not crashed


def test_missing_destination_directory_is_permanent(env: OpEnv, tree: Path) -> None:
    write(tree / "a")
    outcome = run_step(move(tree / "a", tree / "no/such/b"), env)
    assert outcome.error_kind == ErrorKind.PERMANENT and "does not exist" in outcome.error


def test_across_filesystems_file_tree_and_symlink(env: OpEnv, tree: Path, tmpfs) -> None:  # type: ignore[no-untyped-def]
    mnt = tmpfs("other", "4m")
    write(tree / "f", b"file bytes", 0o600, mtime=1_234_567)
    (tree / "d/sub").mkdir(parents=True)
    write(tree / "d/sub/x", b"x", 0o755, mtime=2_000_000)
    (tree / "d/link").symlink_to("sub/x")
    os.chmod(tree / "d/sub", 0o750)
    os.utime(tree / "d/sub", (3_000_000, 3_000_000))
    want_f, want_d = snapshot(tree)[b"f"], snapshot(tree / "d")
    sub_mtime = os.lstat(tree / "d/sub").st_mtime_ns
    (tree / "dangling").symlink_to("nowhere")
    for name in ["f", "d", "dangling"]:
        outcome = run_step(move(tree / name, mnt / name), env)
        assert outcome.ok, outcome
        assert not os.path.lexists(tree / name)
    assert snapshot(mnt)[b"f"] == want_f
    assert snapshot(mnt / "d") == want_d
    assert os.lstat(mnt / "d/sub").st_mtime_ns == sub_mtime
    assert os.readlink(mnt / "dangling") == "nowhere"
    assert temps_in(tree) == [] and temps_in(mnt) == []


def test_across_filesystems_enospc_leaves_original_untouched(env: OpEnv, tree: Path, tmpfs) -> None:  # type: ignore[no-untyped-def]
    mnt = tmpfs("tiny", "256k")
    big = write(tree / "big", os.urandom(1 << 20))
    before = snapshot(tree)
    outcome = run_step(move(big, mnt / "big"), env)
    assert outcome.error_kind == ErrorKind.NO_SPACE, outcome
    assert "no space left on device while copying" in outcome.error
    assert "the original is untouched" in outcome.error
    assert snapshot(tree) == before and os.listdir(mnt) == []


def test_across_filesystems_resume_after_commit_removes_source(
    env: OpEnv, tree: Path, tmpfs
) -> None:  # type: ignore[no-untyped-def]
    """Crash state 2: dst committed, src intact → a re-run only removes src."""
    mnt = tmpfs("other", "4m")
    src = write(tree / "f", b"payload", mtime=1_000_000)
    expected = Fingerprint.of(os.lstat(src))
    FileSystem().copy_tree(os.fsencode(src), os.fsencode(mnt / "f"))
    outcome = run_step(move(src, mnt / "f"), env, expected)
    assert outcome.ok and outcome.result == "already done"
    assert not src.exists() and (mnt / "f").read_bytes() == b"payload"
    again = run_step(move(src, mnt / "f"), env, expected)
    assert again.ok and again.result == "already done"


def test_rerun_with_expected_is_noop(env: OpEnv, tree: Path) -> None:
    src = write(tree / "a", b"a")
    expected = Fingerprint.of(os.lstat(src))
    assert run_step(move(src, tree / "b"), env, expected).ok
    again = run_step(move(src, tree / "b"), env, expected)
    assert again.ok and again.result == "already done"
    assert os.listdir(tree) == ["b"]


def test_rerun_without_expected_reports_vanished(env: OpEnv, tree: Path) -> None:
    write(tree / "a")
    assert run_step(move(tree / "a", tree / "b"), env).ok
    assert "vanished" in run_step(move(tree / "a", tree / "b"), env).error


def test_interrupted_case_rename_is_finished(env: OpEnv, tree: Path) -> None:
    src = write(tree / "photo.JPG", b"img")
    expected = Fingerprint.of(os.lstat(src))
    os.rename(src, temp_beside(os.fsencode(tree / "photo.jpg"), BATCH, 0))  # the crash state
    outcome = run_step(move(src, tree / "photo.jpg"), env, expected)
    assert outcome.ok, outcome
    assert os.listdir(tree) == ["photo.jpg"]


def test_source_changed_since_plan(env: OpEnv, tree: Path) -> None:
    src = write(tree / "a", b"one")
    expected = Fingerprint.of(os.lstat(src))
    write(tree / "a", b"other size")
    outcome = run_step(move(src, tree / "b"), env, expected)
    assert "changed since the plan was validated" in outcome.error
    assert src.exists()


def test_rename_noreplace_fallback_refuses_existing(tree: Path) -> None:
    fs = FileSystem(use_renameat2=False)
    a, b = write(tree / "a", b"a"), write(tree / "b", b"b")
    with pytest.raises(FileExistsError):
        fs.rename_noreplace(os.fsencode(a), os.fsencode(b))
    fs.rename_noreplace(os.fsencode(a), os.fsencode(tree / "c"))
    assert sorted(os.listdir(tree)) == ["b", "c"]
    (tree / "d").mkdir()
    with pytest.raises(FileExistsError):
        fs.rename_noreplace(os.fsencode(tree / "d"), os.fsencode(b))
    fs.rename_noreplace(os.fsencode(tree / "d"), os.fsencode(tree / "e"))
    assert (tree / "e").is_dir()


class CaseInsensitiveLookup(FileSystem):
    """A typed fake of a case-insensitive mount (this kernel lacks CONFIG_UNICODE): lstat
    finds a name by casefolded comparison, as such filesystems do; listdir is literal."""

    def lstat(self, path: bytes) -> os.stat_result:
        try:
            return super().lstat(path)
        except FileNotFoundError:
            parent, name = os.path.split(path)
            for entry in os.listdir(parent):
                if entry.lower() == name.lower():
                    return super().lstat(os.path.join(parent, entry))
            raise


def test_case_only_rename_through_case_insensitive_lookup(
    make_env: Callable[..., OpEnv], tree: Path
) -> None:
    env = make_env()
    env = OpEnv(CaseInsensitiveLookup(), env.undo, BATCH)
    write(tree / "photo.JPG", b"img")
    outcome = run_step(move(tree / "photo.JPG", tree / "photo.jpg"), env)
    assert outcome.ok, outcome
    assert os.listdir(tree) == ["photo.jpg"] and (tree / "photo.jpg").read_bytes() == b"img"
