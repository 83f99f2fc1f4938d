"""File-tree factories and the manifest oracle: what a tree holds, as plain data."""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Entry:
    """One path of a manifest: its type and, for files, size, digest, mode and mtime."""

    kind: str  # "file", "dir" or "link"
    size: int = 0
    sha256: str = ""
    mode: int = 0
    mtime_ns: int = 0
    target: str = ""


def manifest(root: Path, *, with_mtime: bool = False) -> dict[str, Entry]:
    """Every path under ``root`` (relative, '/'-separated) with what it holds."""
    result: dict[str, Entry] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            relative = path.relative_to(root).as_posix()
            info = path.lstat()
            mtime = info.st_mtime_ns if with_mtime else 0
            if stat.S_ISLNK(info.st_mode):
                result[relative] = Entry("link", target=os.readlink(path))
            elif stat.S_ISDIR(info.st_mode):
                result[relative] = Entry("dir", mode=stat.S_IMODE(info.st_mode))
            else:
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                result[relative] = Entry(
                    "file", info.st_size, digest, stat.S_IMODE(info.st_mode), mtime
                )
    return result


def file_entry(content: bytes, mode: int = 0o644) -> Entry:
    """The manifest entry a file with ``content`` and ``mode`` has."""
    return Entry("file", len(content), hashlib.sha256(content).hexdigest(), mode)


def make_files(root: Path, files: dict[str, bytes], mode: int = 0o644) -> None:
    """Create ``files`` (relative path → content) under ``root``."""
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        path.chmod(mode)
