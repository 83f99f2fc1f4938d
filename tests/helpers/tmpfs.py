"""Small size-limited tmpfs mounts for tests of full filesystems (root only)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest


def mount_tmpfs(where: Path, size: str = "4m", options: str = "") -> None:
    """Mount a tmpfs at ``where`` (created); skip the test where mounting is not allowed."""
    where.mkdir(parents=True, exist_ok=True)
    opts = f"size={size}" + (f",{options}" if options else "")
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(where)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        # CI runs as root and can mount: there a failure to mount is a failure, not a skip.
        if os.environ.get("CI") == "true":
            pytest.fail(f"cannot mount a tmpfs in CI: {result.stderr.strip()}")
        pytest.skip(f"cannot mount a tmpfs here (needs root): {result.stderr.strip()}")


def unmount(where: Path) -> None:
    """Unmount (lazily, so an open fd never fails the teardown)."""
    subprocess.run(["umount", "-l", str(where)], check=False, capture_output=True)
