"""Shared by the tests that run real systemd pieces (systemd-analyze, journald, nspawn).

Outside CI a missing tool or privilege skips with the reason; in CI (``CI=true``) it fails,
so the tests that matter are never skipped silently where everything can be installed.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
UNITS = REPO / "systemd"
BATCHD = str(Path(sys.executable).with_name("batchd"))
BATCHCTL = str(Path(sys.executable).with_name("batchctl"))
INSTALLED_BATCHD = "/opt/batchd/bin/batchd"


def in_ci() -> bool:
    """Whether this runs in CI, where nothing installable may be skipped."""
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require(*tools: str, root: bool = False) -> None:
    """Skip (fail in CI) unless the tools exist and, with ``root``, we run as root."""
    missing = [tool for tool in tools if shutil.which(tool) is None]
    reasons = [f"{', '.join(missing)} not installed (Makefile system-deps)"] if missing else []
    if root and os.geteuid() != 0:
        reasons.append("needs root")
    if reasons:
        message = "; ".join(reasons)
        if in_ci():
            pytest.fail(f"CI must run this test: {message}")
        pytest.skip(message)
