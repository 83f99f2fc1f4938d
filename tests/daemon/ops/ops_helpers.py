"""Helpers for the op tests: steps, tmpfs mounts, tree snapshots, crash hooks."""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

from tmpfs import mount_tmpfs, unmount

from batchd.daemon.ops.env import OpEnv
from batchd.daemon.ops.names import is_temp_name
from batchd.daemon.ops.step import OpKind, Step

BATCH = 7

EnvFactory = Callable[..., OpEnv]

__all__ = ["mount_tmpfs", "unmount"]  # re-exported from tests/helpers/tmpfs.py


def step(op: OpKind, path: Path | bytes, dest: Path | bytes | None = None, **kw: object) -> Step:
    """A Step of index 0 (override with ``index=``) with bytes paths."""
    index = int(kw.pop("index", 0))  # type: ignore[call-overload]
    return Step(
        index,
        index + 1,
        op,
        os.fsencode(path),
        None if dest is None else os.fsencode(dest),
        **kw,  # type: ignore[arg-type]
    )


def snapshot(root: Path | bytes, *, temps: bool = False) -> dict[bytes, tuple[object, ...]]:
    """``{relative path: (kind, content sha256 | link target | None, mode, mtime_ns)}``.

    Our temp names are left out unless ``temps``; directory mtimes are left out (names
    added and removed inside change them)."""
    base = os.fsencode(root)
    found: dict[bytes, tuple[object, ...]] = {}
    for directory, dirs, files in os.walk(base):
        for name in [*dirs, *files]:
            if not temps and is_temp_name(name):
                continue
            full = os.path.join(directory, name)
            info = os.lstat(full)
            relative = os.path.relpath(full, base)
            if stat.S_ISLNK(info.st_mode):
                found[relative] = ("link", os.readlink(full), None, info.st_mtime_ns)
            elif stat.S_ISDIR(info.st_mode):
                found[relative] = ("dir", None, stat.S_IMODE(info.st_mode), None)
            else:
                digest = hashlib.sha256(Path(os.fsdecode(full)).read_bytes()).hexdigest()
                found[relative] = ("file", digest, stat.S_IMODE(info.st_mode), info.st_mtime_ns)
        dirs[:] = [d for d in dirs if temps or not is_temp_name(d)]
    return found


def temps_in(root: Path) -> list[bytes]:
    """Our temp names anywhere under ``root``."""
    found = []
    for _directory, dirs, files in os.walk(os.fsencode(root)):
        found += [name for name in [*dirs, *files] if is_temp_name(name)]
    return found


def write(path: Path, data: bytes = b"content", mode: int = 0o644, mtime: int = 0) -> Path:
    """Create a file with ``data``, ``mode`` and (if given) ``mtime`` seconds."""
    path.write_bytes(data)
    path.chmod(mode)
    if mtime:
        os.utime(path, (mtime, mtime))
    return path


class Crash(BaseException):
    """Raised by a crash hook: a BaseException, so the runner does not turn it into an
    Outcome, as a real kill -9 would not let it."""


class CrashAt:
    """A hook that counts calls and raises Crash at call number ``at`` (0-based; -1: never)."""

    def __init__(self, at: int = -1) -> None:
        self.at = at
        self.calls: list[tuple[str, tuple[bytes, ...]]] = []

    def __call__(self, name: str, *paths: bytes) -> None:
        if len(self.calls) == self.at:
            raise Crash(name)
        self.calls.append((name, paths))


@contextlib.contextmanager
def umask(mask: int) -> Iterator[None]:
    """Temporarily set the process umask."""
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def read(path: bytes | Path) -> bytes:
    """The bytes of a file."""
    with open(path, "rb") as handle:
        return handle.read()
