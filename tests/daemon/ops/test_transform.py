"""transform: filter success, exit status, stderr, timeout with a background child,
concurrent modification, hard links, convergence."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from ops_helpers import BATCH, read, step, temps_in, write

from batchd.daemon.ops.env import OpEnv
from batchd.daemon.ops.runner import run_step
from batchd.daemon.ops.step import ErrorKind, Fingerprint, OpKind, Step


def transform(path: Path, *command: str, **kw: object) -> Step:
    return step(OpKind.TRANSFORM, path, command=command, **kw)


def test_filter_replaces_content_keeps_mode(env: OpEnv, tree: Path) -> None:
    path = write(tree / "notes.txt", b"foo and foo\n", 0o640)
    old_ino = os.lstat(path).st_ino
    outcome = run_step(transform(path, "sed", "s/foo/bar/g", index=1), env)
    assert outcome.ok, outcome
    assert path.read_bytes() == b"bar and bar\n"
    assert os.lstat(path).st_mode & 0o7777 == 0o640
    kept = env.undo.path_for(BATCH, 1)
    assert os.lstat(kept).st_ino == old_ino and read(kept) == b"foo and foo\n"
    assert temps_in(tree) == [] and outcome.post == Fingerprint.of(os.lstat(path))


def test_hard_linked_original_keeps_other_names(env: OpEnv, tree: Path) -> None:
    write(tree / "a", b"lower")
    os.link(tree / "a", tree / "b")
    assert run_step(transform(tree / "a", "tr", "a-z", "A-Z"), env).ok
    assert (tree / "a").read_bytes() == b"LOWER" and (tree / "b").read_bytes() == b"lower"


def test_nonzero_exit_is_permanent_with_stderr(env: OpEnv, tree: Path) -> None:
    path = write(tree / "a", b"original")
    before = os.lstat(path)
    outcome = run_step(transform(path, "sh", "-c", "cat; echo 'bad input' >&2; exit 1"), env)
    assert outcome.error_kind == ErrorKind.PERMANENT
    assert "transform command exited with status 1" in outcome.error
    assert outcome.diagnostics == "bad input\n"
    assert path.read_bytes() == b"original" and os.lstat(path).st_ino == before.st_ino
    assert temps_in(tree) == []


def test_stderr_is_bounded(make_env: Callable[..., OpEnv], tree: Path) -> None:
    env = make_env(stderr_limit=100)
    path = write(tree / "a")
    outcome = run_step(transform(path, "sh", "-c", "head -c 100000 /dev/zero >&2; exit 2"), env)
    assert outcome.diagnostics.startswith("\0" * 100)
    assert "99900 more bytes of stderr dropped" in outcome.diagnostics


def test_timeout_kills_background_child(make_env: Callable[..., OpEnv], tree: Path) -> None:
    env = make_env(item_timeout=0.5)
    path = write(tree / "a", b"original")
    marker = tree.parent / "child.pid"
    script = f"sleep 100 & echo $! > {marker}; sleep 100"
    started = time.monotonic()
    outcome = run_step(transform(path, "sh", "-c", script), env)
    elapsed = time.monotonic() - started
    assert outcome.error_kind == ErrorKind.TRANSIENT and "timed out after 0.5 s" in outcome.error
    assert elapsed < 5
    child = int(marker.read_text())
    deadline = time.monotonic() + 5
    while _alive(child):
        assert time.monotonic() < deadline, "background child survived"
        time.sleep(0.01)
    assert path.read_bytes() == b"original" and temps_in(tree) == []


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_exit_zero_with_lingering_child_does_not_hang(
    make_env: Callable[..., OpEnv], tree: Path
) -> None:
    env = make_env(item_timeout=10)
    path = write(tree / "a", b"x")
    started = time.monotonic()
    outcome = run_step(transform(path, "sh", "-c", "cat; sleep 100 >/dev/null 2>&1 &"), env)
    assert outcome.ok, outcome
    assert time.monotonic() - started < 5
    assert path.read_bytes() == b"x"


def test_concurrent_modification_detected(env: OpEnv, tree: Path) -> None:
    path = write(tree / "a", b"first half ")
    outcome = run_step(transform(path, "sh", "-c", f"cat; printf 'second' >> '{path}'"), env)
    assert outcome.error_kind == ErrorKind.TRANSIENT and "changed while" in outcome.error
    assert path.read_bytes() == b"first half second" and temps_in(tree) == []


def test_command_not_found_is_permanent(env: OpEnv, tree: Path) -> None:
    path = write(tree / "a")
    outcome = run_step(transform(path, "/no/such/command"), env)
    assert outcome.error_kind == ErrorKind.PERMANENT and "could not be started" in outcome.error
    assert temps_in(tree) == []


def test_symlink_and_directory_refused(env: OpEnv, tree: Path) -> None:
    (tree / "d").mkdir()
    (tree / "link").symlink_to("d")
    assert "symbolic link" in run_step(transform(tree / "link", "cat"), env).error
    assert "regular file" in run_step(transform(tree / "d", "cat"), env).error


def test_rerun_with_expected_is_already_done(env: OpEnv, tree: Path) -> None:
    path = write(tree / "a", b"abc")
    expected = Fingerprint.of(os.lstat(path))
    assert run_step(transform(path, "tr", "a-z", "A-Z"), env, expected).ok
    again = run_step(transform(path, "tr", "a-z", "A-Z"), env, expected)
    assert again.ok and again.result == "already done"
    assert path.read_bytes() == b"ABC"


def test_not_through_a_shell(env: OpEnv, tree: Path) -> None:
    path = write(tree / "a", b"abc")
    outcome = run_step(transform(path, "echo", "$HOME;", "`id`"), env)
    assert outcome.ok and path.read_bytes() == b"$HOME; `id`\n"
