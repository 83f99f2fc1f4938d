"""Checkpoint files: an opaque snapshot of folded state at an LSN, written atomically.

``<state>/checkpoints/checkpoint-<lsn:020d>.bin`` is a 36-byte header and a body::

    0   8s  CHECKPOINT_MAGIC "\\x89BDC\\r\\n\\x1a\\n"
    8   u16 format version of the body (CHECKPOINT_VERSION)
    10  u16 flags (0)
    12  u32 crc32(body)
    16  u64 LSN: the body is the state after every record up to and including this LSN
    24  u64 body length
    32  u32 crc32(bytes 0..32)

A file is written to ``<name>.tmp``, fsynced, renamed into place and the directory fsynced, so
a final name always holds a complete file unless the disk damaged it later; the checksums tell.
What the body holds is the caller's business (``batchd.daemon.checkpoint``).
"""

from __future__ import annotations

import os
import re
import struct
import zlib
from pathlib import Path
from typing import Final

from batchd.daemon.journal.errors import CheckpointCorrupt, UnsupportedCheckpoint
from batchd.daemon.journal.syscalls import JournalSyscalls, OsSyscalls, fsync_dir, write_all

CHECKPOINT_MAGIC: Final = b"\x89BDC\r\n\x1a\n"
CHECKPOINT_VERSION: Final = 1
"""Version of the checkpoint body this build writes; bump it on any change of the body."""
READABLE_CHECKPOINT_VERSIONS: Final = frozenset({1})

_HEADER: Final = struct.Struct("<8sHHIQQ")
_CRC: Final = struct.Struct("<I")
HEADER_SIZE: Final = _HEADER.size + _CRC.size
_NAME: Final = re.compile(r"^checkpoint-(\d{20})\.bin$")
_TEMP_SUFFIX: Final = ".tmp"


def checkpoint_name(lsn: int) -> str:
    """The file name of the checkpoint at ``lsn``."""
    return f"checkpoint-{lsn:020d}.bin"


def encode_checkpoint(lsn: int, body: bytes, version: int = CHECKPOINT_VERSION) -> bytes:
    """Header and body of a checkpoint file."""
    head = _HEADER.pack(CHECKPOINT_MAGIC, version, 0, zlib.crc32(body), lsn, len(body))
    return head + _CRC.pack(zlib.crc32(head)) + body


def decode_checkpoint(data: bytes, path: Path) -> tuple[int, int, memoryview]:
    """Verify a checkpoint file's bytes; returns (version, LSN, body). Raises
    CheckpointCorrupt (damage, a cut file) or UnsupportedCheckpoint (a newer version)."""
    if len(data) < HEADER_SIZE:
        raise CheckpointCorrupt(f"checkpoint {path} is only {len(data)} bytes", path)
    magic, version, flags, body_crc, lsn, length = _HEADER.unpack_from(data)
    (head_crc,) = _CRC.unpack_from(data, _HEADER.size)
    if magic != CHECKPOINT_MAGIC or zlib.crc32(data[: _HEADER.size]) != head_crc or flags:
        raise CheckpointCorrupt(f"checkpoint {path} has a bad header", path)
    body = memoryview(data)[HEADER_SIZE:]
    if len(body) != length or zlib.crc32(body) != body_crc:
        raise CheckpointCorrupt(
            f"checkpoint {path} is damaged: {len(body)} body bytes (header says {length}) or "
            "checksum mismatch",
            path,
        )
    if version not in READABLE_CHECKPOINT_VERSIONS:
        raise UnsupportedCheckpoint(
            f"checkpoint {path} uses format version {version}; this batchd reads version "
            f"{CHECKPOINT_VERSION}: upgrade batchd",
            path,
        )
    return version, lsn, body


class CheckpointFiles:
    """The checkpoint directory: list, write atomically, read verified, prune."""

    def __init__(self, directory: Path, syscalls: JournalSyscalls | None = None) -> None:
        self.directory = directory
        self._syscalls = syscalls if syscalls is not None else OsSyscalls()

    def list(self) -> list[tuple[int, Path]]:
        """The checkpoint files as (LSN, path), oldest first."""
        if not self.directory.is_dir():
            return []
        found: list[tuple[int, Path]] = []
        with os.scandir(self.directory) as entries:
            for entry in entries:
                match = _NAME.match(entry.name)
                if match and entry.is_file(follow_symlinks=False):
                    found.append((int(match.group(1)), Path(entry.path)))
        found.sort()
        return found

    def read(self, path: Path) -> tuple[int, memoryview]:
        """The verified (LSN, body) of one checkpoint file; raises CheckpointCorrupt."""
        try:
            data = path.read_bytes()
        except OSError as error:
            raise CheckpointCorrupt(f"checkpoint {path} cannot be read: {error}", path) from None
        _, lsn, body = decode_checkpoint(data, path)
        match = _NAME.match(path.name)
        if match is None or int(match.group(1)) != lsn:
            raise CheckpointCorrupt(f"checkpoint {path} says it covers LSN {lsn}", path)
        return lsn, body

    def write(self, lsn: int, body: bytes) -> Path:
        """Write the checkpoint at ``lsn``: temp file, fsync, rename, fsync the directory."""
        if not self.directory.is_dir():
            self.directory.mkdir(mode=0o700, parents=True)
            fsync_dir(self._syscalls, self.directory.parent)
        path = self.directory / checkpoint_name(lsn)
        temp = path.with_name(path.name + _TEMP_SUFFIX)
        temp.unlink(missing_ok=True)  # left by a crash while writing this same checkpoint
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
        fd = os.open(temp, flags, 0o600)
        try:
            write_all(self._syscalls, fd, encode_checkpoint(lsn, body))
            self._syscalls.fsync(fd)
        except BaseException:
            os.close(fd)
            temp.unlink(missing_ok=True)
            raise
        os.close(fd)
        os.replace(temp, path)
        fsync_dir(self._syscalls, self.directory)
        return path

    def remove_except(self, keep: set[int]) -> int:
        """Delete every checkpoint not at an LSN in ``keep`` and every temporary file, then
        fsync the directory; returns how many files were deleted."""
        if not self.directory.is_dir():
            return 0
        doomed = [path for lsn, path in self.list() if lsn not in keep]
        doomed += self.directory.glob(f"checkpoint-*.bin{_TEMP_SUFFIX}")
        for path in doomed:
            path.unlink(missing_ok=True)
        if doomed:
            fsync_dir(self._syscalls, self.directory)
        return len(doomed)
