"""checksum: known digests, refusals, nothing changed."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from ops_helpers import step, write

from batchd.daemon.ops.env import OpEnv
from batchd.daemon.ops.runner import run_step
from batchd.daemon.ops.step import ErrorKind, OpKind

KNOWN = {
    "sha256": "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
    "md5": "5d41402abc4b2a76b9719d911017c592",
    "blake2b": hashlib.blake2b(b"hello").hexdigest(),
}


@pytest.mark.parametrize("algorithm", sorted(KNOWN))
def test_known_digests(env: OpEnv, tree: Path, algorithm: str) -> None:
    path = write(tree / "a", b"hello")
    before = os.lstat(path)
    outcome = run_step(step(OpKind.CHECKSUM, path, algorithm=algorithm), env)
    assert outcome.ok and outcome.result == KNOWN[algorithm]
    assert os.lstat(path).st_mtime_ns == before.st_mtime_ns


def test_default_is_sha256_and_large_files_stream(env: OpEnv, tree: Path) -> None:
    data = os.urandom(3 * (1 << 20) + 17)
    path = write(tree / "big", data)
    outcome = run_step(step(OpKind.CHECKSUM, path), env)
    assert outcome.result == hashlib.sha256(data).hexdigest()


def test_directory_symlink_and_unknown_algorithm_refused(env: OpEnv, tree: Path) -> None:
    write(tree / "f")
    (tree / "link").symlink_to("f")
    directory = run_step(step(OpKind.CHECKSUM, tree), env)
    link = run_step(step(OpKind.CHECKSUM, tree / "link"), env)
    unknown = run_step(step(OpKind.CHECKSUM, tree / "f", algorithm="crc99"), env)
    assert "is a directory" in directory.error
    assert "symbolic link" in link.error
    assert "unknown checksum algorithm 'crc99'" in unknown.error and "sha256" in unknown.error
    assert {o.error_kind for o in (directory, link, unknown)} == {ErrorKind.PERMANENT}
