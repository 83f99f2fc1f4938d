"""move's common case (no overwrite): the rename is tried before anything but the source is
looked at; every failure falls back to examining everything, with the same results and
messages as when the failure was visible beforehand. The outcome's post-state is an
observation of dst and its digest that of dst's content."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from ops_helpers import BATCH, CrashAt, step, write

from batchd.daemon.ops.content import DIGEST_SIZE, content_digest
from batchd.daemon.ops.env import Intent, OpEnv
from batchd.daemon.ops.fs import FileSystem, Hook
from batchd.daemon.ops.runner import run_step
from batchd.daemon.ops.step import ErrorKind, Fingerprint, OpKind, Step


def move(src: Path, dst: Path) -> Step:
    return step(OpKind.MOVE, src, dst)


def planned(path: Path) -> Fingerprint:
    return Fingerprint.of(os.lstat(path))


def test_the_common_case_looks_only_at_the_source_before_renaming(
    make_env: Callable[..., OpEnv], tree: Path
) -> None:
    src, dst = write(tree / "a", b"data"), tree / "d" / "a"
    dst.parent.mkdir()
    hook = CrashAt()
    assert run_step(move(src, dst), make_env(hook), planned(src)).ok
    renamed = hook.calls.index(("rename_noreplace", (os.fsencode(src), os.fsencode(dst))))
    assert hook.calls[:renamed] == [("lstat", (os.fsencode(src),))]


@pytest.mark.parametrize("data", [b"", b"x", b"y" * 70_000])
@pytest.mark.parametrize("with_expected", [True, False])
def test_post_state_is_an_lstat_of_dst_and_digest_its_content(
    env: OpEnv, tree: Path, data: bytes, with_expected: bool
) -> None:
    src, dst = write(tree / "a", data, 0o640, mtime=1_000_000), tree / "b"
    expected = planned(src) if with_expected else None
    outcome = run_step(move(src, dst), env, expected)
    assert outcome.ok, outcome
    assert outcome.post == planned(dst)
    assert len(outcome.digest) == DIGEST_SIZE
    assert outcome.digest == content_digest(env.fs, os.fsencode(dst))


@pytest.mark.parametrize("kind", ["dir", "symlink"])
def test_other_kinds_get_a_post_state_and_no_digest(env: OpEnv, tree: Path, kind: str) -> None:
    src, dst = tree / "a", tree / "b"
    if kind == "dir":
        src.mkdir()
        write(src / "inside")
    else:
        src.symlink_to("nowhere")
    outcome = run_step(move(src, dst), env, planned(src))
    assert outcome.ok, outcome
    assert outcome.post == planned(dst) and outcome.digest == b""


def test_without_rollback_there_is_no_digest(make_env: Callable[..., OpEnv], tree: Path) -> None:
    src, dst = write(tree / "a", b"data"), tree / "b"
    outcome = run_step(move(src, dst), make_env(enable_rollback=False), planned(src))
    assert outcome.ok and outcome.post == planned(dst) and outcome.digest == b""


def _env_with(hook: Hook, env: OpEnv, *, use_renameat2: bool, record: list[Intent]) -> OpEnv:
    def sink(the_step: Step, intent: Intent) -> None:
        record.append(intent)

    fs = FileSystem(hook, use_renameat2=use_renameat2)
    return OpEnv(fs, env.undo, BATCH, intent=sink)


@pytest.mark.parametrize("use_renameat2", [True, False])
def test_destination_appearing_after_the_check_is_refused_as_before(
    env: OpEnv, tree: Path, use_renameat2: bool
) -> None:
    src, dst = write(tree / "a", b"mine"), tree / "b"
    expected = planned(src)

    def sneak_in(name: str, *paths: bytes) -> None:
        if name == "rename_noreplace" and not dst.exists():
            write(dst, b"theirs")

    intents: list[Intent] = []
    fast = _env_with(sneak_in, env, use_renameat2=use_renameat2, record=intents)
    outcome = run_step(move(src, dst), fast, expected)
    reference = run_step(move(src, dst), env, expected)  # dst there from the start
    assert not outcome.ok and outcome.error_kind == ErrorKind.PERMANENT
    assert outcome.error == reference.error
    assert "destination appeared since the plan was validated" in outcome.error
    assert src.read_bytes() == b"mine" and dst.read_bytes() == b"theirs"
    assert [intent.pre for intent in intents] == [expected]  # announced, did not happen


def test_hard_link_alias_is_refused_as_before(env: OpEnv, tree: Path) -> None:
    src, dst = write(tree / "a"), tree / "b"
    os.link(src, dst)
    outcome = run_step(move(src, dst), env, planned(src))
    assert "destination appeared" in outcome.error
    assert src.exists() and dst.exists()


def test_missing_destination_directory_is_reported_as_before(env: OpEnv, tree: Path) -> None:
    src = write(tree / "a")
    outcome = run_step(move(src, tree / "no" / "b"), env, planned(src))
    assert outcome.error_kind == ErrorKind.PERMANENT
    assert outcome.error == f"the destination's directory does not exist: {tree / 'no' / 'b'}"
    assert src.exists()


def test_source_vanished_after_the_check_is_reported_as_before(env: OpEnv, tree: Path) -> None:
    src, dst = write(tree / "a"), tree / "b"
    expected = planned(src)

    def take_away(name: str, *paths: bytes) -> None:
        if name == "rename_noreplace" and src.exists():
            src.unlink()

    outcome = run_step(
        move(src, dst), _env_with(take_away, env, use_renameat2=True, record=[]), expected
    )
    assert outcome.error == f"source vanished since the plan was validated: {src}"
    assert not dst.exists()


def test_across_filesystems_falls_back_to_the_copy(env: OpEnv, tree: Path, tmpfs) -> None:  # type: ignore[no-untyped-def]
    mnt = tmpfs()
    src = write(tree / "f", b"payload", 0o640, mtime=1_000_000)
    expected = planned(src)
    intents: list[Intent] = []
    outcome = run_step(
        move(src, mnt / "f"),
        _env_with(CrashAt(), env, use_renameat2=True, record=intents),
        expected,
    )
    assert outcome.ok, outcome
    assert not src.exists() and (mnt / "f").read_bytes() == b"payload"
    assert outcome.post == planned(mnt / "f")
    assert [intent.action for intent in intents] == ["rename", "copy-commit"]
    assert all(intent.pre == expected for intent in intents)
