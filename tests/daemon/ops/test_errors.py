"""errors: classification and messages."""

from __future__ import annotations

import errno

import pytest

from batchd.daemon.ops.errors import appeared, classify, copy_failed, describe, vanished
from batchd.daemon.ops.step import ErrorKind

PERMANENT = [errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.EACCES, errno.EPERM,
             errno.EEXIST, errno.EROFS, errno.ENAMETOOLONG, errno.ELOOP, errno.EXDEV]  # fmt: skip
TRANSIENT = [errno.EAGAIN, errno.EBUSY, errno.EINTR,
             errno.ETIMEDOUT, errno.EIO, errno.EMFILE, errno.ENFILE]  # fmt: skip


@pytest.mark.parametrize("code", PERMANENT)
def test_permanent(code: int) -> None:
    assert classify(OSError(code, "x")) == ErrorKind.PERMANENT


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT])
def test_a_full_disk_is_its_own_kind(code: int) -> None:
    assert classify(OSError(code, "x")) == ErrorKind.NO_SPACE


@pytest.mark.parametrize("code", TRANSIENT)
def test_transient(code: int) -> None:
    assert classify(OSError(code, "x")) == ErrorKind.TRANSIENT


def test_messages_name_path_and_advice() -> None:
    assert vanished(b"/a/b.jpg").message == (
        "source vanished since the plan was validated: /a/b.jpg"
    )
    assert appeared(b"/x").message == (
        'destination appeared since the plan was validated: /x (use "overwrite": true to '
        "replace it)"
    )
    full = copy_failed(OSError(errno.ENOSPC, "x"), b"/a", b"/b")
    assert (
        full.message == "no space left on device while copying /a to /b; the original is untouched"
    )
    assert full.kind == ErrorKind.NO_SPACE
    denied = describe(OSError(errno.EACCES, "x", b"/caf\xe9"), "moving")
    assert denied.startswith("permission denied while moving: /caf") and "permissions" in denied
