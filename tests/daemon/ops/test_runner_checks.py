"""run_step's checks for rollback steps: directories match by (dev, ino, mode); a step's
content digest catches an edit that kept size and times; plain forward steps pay nothing."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from ops_helpers import CrashAt, read, step, write

from batchd.daemon.ops.content import DIGEST_LIMIT, content_digest
from batchd.daemon.ops.env import OpEnv
from batchd.daemon.ops.fs import FileSystem
from batchd.daemon.ops.runner import matches, run_step
from batchd.daemon.ops.step import ErrorKind, Fingerprint, OpKind

DIR, FILE = 0o040755, 0o100644


def test_matches_directories_by_identity_and_mode() -> None:
    planned = Fingerprint(1, 2, 4096, 10, DIR)
    assert matches(Fingerprint(1, 2, 8192, 99, DIR), planned)
    assert not matches(Fingerprint(1, 3, 4096, 10, DIR), planned)
    assert not matches(Fingerprint(1, 2, 4096, 10, 0o040700), planned)
    assert not matches(Fingerprint(1, 2, 4096, 10, FILE), planned)
    assert not matches(None, planned)


def test_matches_other_kinds_exactly() -> None:
    planned = Fingerprint(1, 2, 5, 10, FILE)
    assert matches(Fingerprint(1, 2, 5, 10, FILE), planned)
    assert not matches(Fingerprint(1, 2, 5, 11, FILE), planned)
    assert not matches(Fingerprint(1, 2, 6, 10, FILE), planned)


def test_directory_whose_entries_changed_still_matches(env: OpEnv, tree: Path) -> None:
    (tree / "d").mkdir()
    os.utime(tree / "d", ns=(0, 10**15))
    planned = Fingerprint.of(os.lstat(tree / "d"))
    write(tree / "d/x")
    os.unlink(tree / "d/x")
    assert Fingerprint.of(os.lstat(tree / "d")) != planned
    assert run_step(step(OpKind.RMDIR, tree / "d"), env, planned).ok


def test_content_digest() -> None:
    fs = FileSystem()
    assert len(content_digest(fs, b"/dev/null")) == 16


def test_content_digest_refuses_symlinks(tree: Path) -> None:
    (tree / "l").symlink_to(write(tree / "a"))
    with pytest.raises(OSError):
        content_digest(FileSystem(), os.fsencode(tree / "l"))


def _edited_in_place(path: Path) -> Fingerprint:
    """Change ``path``'s content, keeping its size and times; return its fingerprint."""
    info = os.lstat(path)
    data = read(path)
    path.write_bytes(data.swapcase())
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))
    return Fingerprint.of(os.lstat(path))


def test_digest_difference_is_a_conflict_left_untouched(env: OpEnv, tree: Path) -> None:
    path = write(tree / "a", b"planned", mtime=1_000_000)
    digest = content_digest(env.fs, os.fsencode(path))
    planned = Fingerprint.of(os.lstat(path))
    assert _edited_in_place(path) == planned  # the fingerprint cannot tell
    outcome = run_step(step(OpKind.DELETE, path, digest=digest), env, planned)
    assert outcome.error_kind == ErrorKind.PERMANENT
    assert outcome.error == (
        f"{path} was changed since (same size and times, different content); left untouched"
    )
    assert read(path) == b"PLANNED"
    without = run_step(step(OpKind.DELETE, path, digest=digest), env)  # no fingerprint
    assert "(different content)" in without.error and path.exists()


def test_same_digest_passes(env: OpEnv, tree: Path) -> None:
    path = write(tree / "a", b"planned")
    digest = content_digest(env.fs, os.fsencode(path))
    planned = Fingerprint.of(os.lstat(path))
    assert run_step(step(OpKind.DELETE, path, digest=digest), env, planned).ok


def test_forward_steps_read_no_content(make_env: Callable[..., OpEnv], tree: Path) -> None:
    """Without expected or digest, run_step adds no check; only the outcome's digest reads."""
    hook = CrashAt()
    write(tree / "a")
    assert run_step(step(OpKind.MOVE, tree / "a", tree / "b"), make_env(hook)).ok
    opened = [paths for name, paths in hook.calls if name == "open"]
    files = [paths for paths in opened if paths != (os.fsencode(tree),)]  # not dir fsyncs
    assert files == [(os.fsencode(tree / "b"),)]  # the post-state digest, once


def test_outcome_digest_limits(make_env: Callable[..., OpEnv], tree: Path) -> None:
    env = make_env()
    small, big = write(tree / "s", b"x" * 4096), write(tree / "b", b"x" * (DIGEST_LIMIT + 1))
    for path, want in ((small, 16), (big, 0)):
        outcome = run_step(step(OpKind.MOVE, path, tree / f"{path.name}2"), env)
        assert len(outcome.digest) == want


def test_unreadable_target_gets_no_digest(make_env: Callable[..., OpEnv], tree: Path) -> None:
    def deny(name: str, *paths: bytes) -> None:
        if name == "open" and paths[0].endswith(b"/b"):
            raise PermissionError(13, "Permission denied", paths[0])

    write(tree / "a")
    outcome = run_step(step(OpKind.MOVE, tree / "a", tree / "b"), make_env(deny))
    assert outcome.ok and outcome.digest == b"" and outcome.post is not None
