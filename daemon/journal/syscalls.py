"""The few system calls through which the journal changes files, behind a Protocol.

Tests pass their own implementation (counting fsyncs, blocking one, failing with EIO, writing
short) instead of monkeypatching ``os``. Reads go straight to the OS: they change nothing.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Protocol


class JournalSyscalls(Protocol):
    """System calls the journal uses to change files; the default is :class:`OsSyscalls`."""

    def write(self, fd: int, data: bytes | memoryview) -> int:
        """Write some of ``data``; returns how many bytes were written (may be short)."""
        ...

    def fdatasync(self, fd: int) -> None:
        """Flush a file's data and the metadata needed to read it back."""
        ...

    def fsync(self, fd: int) -> None:
        """Flush a file or directory completely."""
        ...

    def ftruncate(self, fd: int, length: int) -> None:
        """Cut a file to ``length`` bytes."""
        ...


class OsSyscalls:
    """The real system calls."""

    def write(self, fd: int, data: bytes | memoryview) -> int:
        """``os.write``."""
        return os.write(fd, data)

    def fdatasync(self, fd: int) -> None:
        """``os.fdatasync``."""
        os.fdatasync(fd)

    def fsync(self, fd: int) -> None:
        """``os.fsync``."""
        os.fsync(fd)

    def ftruncate(self, fd: int, length: int) -> None:
        """``os.ftruncate``."""
        os.ftruncate(fd, length)


def write_all(syscalls: JournalSyscalls, fd: int, data: bytes) -> None:
    """Write all of ``data``, looping on short writes; raises OSError (ENOSPC if none progress)."""
    view = memoryview(data)
    done = 0
    while done < len(data):
        written = syscalls.write(fd, view[done:])
        if written <= 0:
            # A zero-byte write would loop forever; the kernel only does it when out of space.
            raise OSError(errno.ENOSPC, "write made no progress")
        done += written


def fsync_dir(syscalls: JournalSyscalls, directory: Path) -> None:
    """fsync a directory so that names created or removed in it survive a crash."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        syscalls.fsync(fd)
    finally:
        os.close(fd)


class CountingSyscalls:
    """Forwards to another implementation and counts the fsync-family calls, for counters."""

    def __init__(self, inner: JournalSyscalls) -> None:
        self._inner = inner
        self.fsyncs = 0

    def write(self, fd: int, data: bytes | memoryview) -> int:
        """Forward ``write``."""
        return self._inner.write(fd, data)

    def fdatasync(self, fd: int) -> None:
        """Forward ``fdatasync`` and count it (also when it fails: it was attempted)."""
        self.fsyncs += 1
        self._inner.fdatasync(fd)

    def fsync(self, fd: int) -> None:
        """Forward ``fsync`` and count it."""
        self.fsyncs += 1
        self._inner.fsync(fd)

    def ftruncate(self, fd: int, length: int) -> None:
        """Forward ``ftruncate``."""
        self._inner.ftruncate(fd, length)
