"""FileSystem: the hook sees every syscall; a crash at any hook point leaves the before- or
after-state (plus identifiable temps/undo entries) and a re-run converges."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from ops_helpers import Crash, CrashAt, snapshot, step, temps_in, write

from batchd.daemon.ops.env import OpEnv
from batchd.daemon.ops.fs import FileSystem
from batchd.daemon.ops.runner import run_step
from batchd.daemon.ops.step import Fingerprint, OpKind, Step


def test_hook_counts_calls_and_names_paths(make_env: Callable[..., OpEnv], tree: Path) -> None:
    hook = CrashAt()
    env = make_env(hook)
    write(tree / "a")
    assert run_step(step(OpKind.MOVE, tree / "a", tree / "b"), env).ok
    names = [name for name, _ in hook.calls]
    assert "rename_noreplace" in names and names.count("fsync") >= 1
    rename = next(paths for name, paths in hook.calls if name == "rename_noreplace")
    assert rename == (os.fsencode(tree / "a"), os.fsencode(tree / "b"))


def test_every_side_effect_is_behind_the_hook(tree: Path) -> None:
    """A hook that always raises stops every mutating primitive before it acts."""

    def refuse(name: str, *paths: bytes) -> None:
        raise Crash(name)

    fs = FileSystem(refuse)
    a, b = os.fsencode(write(tree / "a")), os.fsencode(tree / "b")
    before = snapshot(tree, temps=True)
    actions: list[Callable[[], object]] = [
        lambda: fs.rename(a, b),
        lambda: fs.rename_noreplace(a, b),
        lambda: fs.link(a, b),
        lambda: fs.unlink(a),
        lambda: fs.mkdir(b),
        lambda: fs.symlink(a, b),
        lambda: fs.chmod(a, 0o600),
        lambda: fs.utime(a, 0, 0),
        lambda: fs.copy_file(a, b),
        lambda: fs.copy_tree(a, b),
        lambda: fs.remove_tree(a),
        lambda: fs.open(b, os.O_CREAT | os.O_WRONLY),
    ]
    for action in actions:
        with pytest.raises(Crash):
            action()
    assert snapshot(tree, temps=True) == before


def _sweep(
    make_env: Callable[..., OpEnv],
    root: Path,
    setup: Callable[[Path], Step],
    after: Callable[[Path], dict[bytes, tuple[object, ...]]],
    snap: Callable[[Path], dict[bytes, tuple[object, ...]]] = snapshot,
) -> int:
    """Crash at each hook point of ``setup``'s step; check state; re-run; check convergence."""
    counting = CrashAt()
    first = root / "dry"
    first.mkdir()
    the_step = setup(first)
    assert run_step(the_step, make_env(counting, store=first / ".state")).ok
    want_after = snap(first / "t")
    total = len(counting.calls)
    for at in range(total):
        work = root / f"crash{at}"
        work.mkdir()
        the_step = setup(work)
        want_before = snap(work / "t")
        expected = Fingerprint.of(os.lstat(the_step.path))
        env = make_env(CrashAt(at), store=work / ".state")
        with pytest.raises(Crash):
            run_step(the_step, env)
        state = snap(work / "t")
        assert state in (want_before, want_after), f"crash at hook {at}: {counting.calls[at]}"
        outcome = run_step(the_step, make_env(store=work / ".state"), expected)
        assert outcome.ok, (at, counting.calls[at], outcome)
        assert snap(work / "t") == want_after == after(work), (at, counting.calls[at])
        assert temps_in(work / "t") == [], (at, counting.calls[at])
    return total


def _files(base: Path) -> Path:
    tree = base / "t"
    (tree / "sub").mkdir(parents=True)
    write(tree / "a", b"alpha", 0o640, mtime=1_000_000)
    write(tree / "b", b"beta", 0o600, mtime=2_000_000)
    return tree


def test_crash_points_move_overwrite(make_env: Callable[..., OpEnv], tmp_path: Path) -> None:
    def setup(base: Path) -> Step:
        tree = _files(base)
        return step(OpKind.MOVE, tree / "a", tree / "b", overwrite=True)

    def after(base: Path) -> dict[bytes, tuple[object, ...]]:
        return {
            b"sub": ("dir", None, 0o755, None),
            b"b": snapshot(base / "t")[b"b"],
        }

    assert _sweep(make_env, tmp_path, setup, after) > 5


def test_crash_points_copy(make_env: Callable[..., OpEnv], tmp_path: Path) -> None:
    def setup(base: Path) -> Step:
        tree = _files(base)
        return step(OpKind.COPY, tree / "a", tree / "sub/a")

    assert _sweep(make_env, tmp_path, setup, lambda base: snapshot(base / "t")) > 5


def test_crash_points_delete_tree(make_env: Callable[..., OpEnv], tmp_path: Path) -> None:
    def setup(base: Path) -> Step:
        tree = _files(base)
        write(tree / "sub/x", b"x")
        return step(OpKind.DELETE, tree / "sub")

    assert _sweep(make_env, tmp_path, setup, lambda base: snapshot(base / "t")) > 3


def test_crash_points_delete_without_rollback(
    make_env: Callable[..., OpEnv], tmp_path: Path
) -> None:
    def no_rollback(*args: object, **kw: object) -> OpEnv:
        return make_env(*args, enable_rollback=False, **kw)

    def setup(base: Path) -> Step:
        tree = _files(base)
        write(tree / "sub/x", b"x")
        return step(OpKind.DELETE, tree / "sub")

    assert _sweep(no_rollback, tmp_path, setup, lambda base: snapshot(base / "t")) > 3


def test_crash_points_transform(make_env: Callable[..., OpEnv], tmp_path: Path) -> None:
    def setup(base: Path) -> Step:
        tree = _files(base)
        return step(OpKind.TRANSFORM, tree / "a", command=("tr", "a-z", "A-Z"))

    def without_mtimes(tree: Path) -> dict[bytes, tuple[object, ...]]:
        return {name: entry[:3] for name, entry in snapshot(tree).items()}

    after = lambda base: without_mtimes(base / "t")  # noqa: E731
    assert _sweep(make_env, tmp_path, setup, after, without_mtimes) > 5
    for directory in tmp_path.glob("crash*"):
        assert (directory / "t/a").read_bytes() == b"ALPHA"
