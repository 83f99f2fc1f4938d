"""run_step: dispatch, the expected-fingerprint check, error conversion, permission denied
as an unprivileged uid, a read-only mount, internal errors never escaping."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import msgpack
from ops_helpers import step, write

from batchd.daemon.ops.env import Intent, OpEnv
from batchd.daemon.ops.fs import FileSystem
from batchd.daemon.ops.runner import OPS, run_step
from batchd.daemon.ops.step import ErrorKind, Fingerprint, OpKind, Outcome, Step

NOBODY = 65534


def test_every_op_kind_is_dispatched() -> None:
    assert set(OPS) == set(OpKind)


def test_internal_error_becomes_permanent_failure(
    make_env: Callable[..., OpEnv], tree: Path
) -> None:
    def buggy(name: str, *paths: bytes) -> None:
        if name == "rename_noreplace":
            raise KeyError("oops")

    write(tree / "a")
    outcome = run_step(step(OpKind.MOVE, tree / "a", tree / "b"), make_env(buggy))
    assert not outcome.ok and outcome.error_kind == ErrorKind.PERMANENT
    assert outcome.error == "internal error in move: KeyError: 'oops'"


def test_changed_since_plan(env: OpEnv, tree: Path) -> None:
    path = write(tree / "a", b"1")
    expected = Fingerprint.of(os.lstat(path))
    os.utime(path, ns=(0, 12345))
    outcome = run_step(step(OpKind.CHECKSUM, path), env, expected)
    assert outcome.error == f"changed since the plan was validated: {path}"


def test_intent_announced_before_the_visible_syscall(
    make_env: Callable[..., OpEnv], tree: Path
) -> None:
    seen: list[tuple[Intent, bool]] = []
    src, dst = write(tree / "a"), tree / "b"

    def record(the_step: Step, intent: Intent) -> None:
        seen.append((intent, src.exists() and not dst.exists()))

    env = make_env(intent=record)
    assert run_step(step(OpKind.MOVE, src, dst), env).ok
    ((intent, still_before),) = seen
    assert still_before and intent.pre is not None and intent.action == "rename"


def _as_nobody(the_step: Step, env: OpEnv) -> Outcome:
    """Run the step in a forked child as uid/gid nobody; return its Outcome."""
    read, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.setgroups([])
            os.setresgid(NOBODY, NOBODY, NOBODY)
            os.setresuid(NOBODY, NOBODY, NOBODY)
            outcome = run_step(the_step, env)
            os.write(write_end, msgpack.packb(outcome.to_row()))
        finally:
            os._exit(0)
    os.close(write_end)
    data = b""
    while chunk := os.read(read, 65536):
        data += chunk
    os.close(read)
    os.waitpid(pid, 0)
    return Outcome.from_row(msgpack.unpackb(data))


def test_permission_denied_is_permanent(public_dir: Path, make_env: Callable[..., OpEnv]) -> None:
    locked = public_dir / "locked"
    locked.mkdir()
    write(locked / "a", b"mine")
    locked.chmod(0o555)
    (public_dir / "open").mkdir(mode=0o777)
    (public_dir / "open").chmod(0o777)
    env = make_env(enable_rollback=False)
    outcome = _as_nobody(step(OpKind.MOVE, locked / "a", public_dir / "open/a"), env)
    assert outcome.error_kind == ErrorKind.PERMANENT, outcome
    assert "permission denied" in outcome.error
    assert (locked / "a").read_bytes() == b"mine"


def test_read_only_mount_is_permanent(env: OpEnv, tmpfs: Callable[..., Path]) -> None:
    mnt = tmpfs("ro")
    write(mnt / "a", b"x")
    subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
    outcome = run_step(step(OpKind.DELETE, mnt / "a"), env)
    assert outcome.error_kind == ErrorKind.PERMANENT and "read-only" in outcome.error
    assert (mnt / "a").read_bytes() == b"x"


def test_unknown_op_code_does_not_raise(env: OpEnv, tree: Path) -> None:
    bad = Step(0, 1, OpKind.MOVE, b"/x", None)
    outcome = run_step(bad, env)
    assert outcome.error_kind == ErrorKind.PERMANENT and "no destination" in outcome.error


def test_default_filesystem_is_real() -> None:
    assert FileSystem().exists(b"/")
