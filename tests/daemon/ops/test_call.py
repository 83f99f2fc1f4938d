"""call + handlers: a real entry point from a fake distribution on sys.path."""

from __future__ import annotations

import os
from pathlib import Path

import msgpack
import pytest
from ops_helpers import BATCH, read, step, write

from batchd.daemon.ops.env import OpEnv
from batchd.daemon.ops.handlers import HandlerRegistry, UnknownHandler
from batchd.daemon.ops.runner import run_step
from batchd.daemon.ops.step import ErrorKind, OpKind, Step


def call(path: Path, handler: str, args: dict[str, object] | None = None, **kw: object) -> Step:
    packed = msgpack.packb(args) if args is not None else b""
    return step(OpKind.CALL, path, handler=handler, args=packed, **kw)


def test_registry_lists_and_caches(handlers_dist: Path) -> None:
    registry = HandlerRegistry()
    assert {"boom", "sidecar", "upper"} <= set(registry.names())
    assert registry.get("upper") is registry.get("upper")
    with pytest.raises(UnknownHandler, match=r"installed: .*upper"):
        registry.get("nope")


def test_handler_modifying_in_place_keeps_original_by_copy(
    env: OpEnv, tree: Path, handlers_dist: Path
) -> None:
    path = write(tree / "a.txt", b"hello", 0o640)
    outcome = run_step(call(path, "upper", {"times": 2}, index=5), env)
    assert outcome.ok, outcome
    assert outcome.result == "10 bytes" and path.read_bytes() == b"HELLOHELLO"
    kept = env.undo.path_for(BATCH, 5)
    assert read(kept) == b"hello"
    assert os.lstat(kept).st_ino != os.lstat(path).st_ino
    assert os.lstat(kept).st_mode & 0o777 == 0o640


def test_handler_exception_is_permanent_with_first_line(
    env: OpEnv, tree: Path, handlers_dist: Path
) -> None:
    path = write(tree / "a")
    outcome = run_step(call(path, "boom"), env)
    assert outcome.error_kind == ErrorKind.PERMANENT
    assert outcome.error == "handler boom raised ValueError: bad pixel data"


def test_declared_path_that_does_not_exist_yet(env: OpEnv, tree: Path, handlers_dist: Path) -> None:
    path = write(tree / "a")
    assert run_step(call(path, "sidecar"), env).ok
    assert (tree / "a.meta").read_text() == "meta"
    assert not os.path.exists(env.undo.path_for(BATCH, 0))


def test_unknown_handler_names_installed_ones(env: OpEnv, tree: Path, handlers_dist: Path) -> None:
    outcome = run_step(call(write(tree / "a"), "missing"), env)
    assert outcome.error_kind == ErrorKind.PERMANENT
    assert "'missing'" in outcome.error and "upper" in outcome.error


def test_bad_args_are_permanent(env: OpEnv, tree: Path, handlers_dist: Path) -> None:
    outcome = run_step(step(OpKind.CALL, write(tree / "a"), handler="upper", args=b"\xc1"), env)
    assert outcome.error_kind == ErrorKind.PERMANENT and "args" in outcome.error
