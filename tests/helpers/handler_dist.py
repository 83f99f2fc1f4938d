"""A real installed-looking distribution that registers ``batchd.handlers`` entry points.

It is a ``*.dist-info`` directory plus a module in a folder that goes on ``PYTHONPATH``, so
``importlib.metadata.entry_points(group="batchd.handlers")`` finds the handlers exactly as it
would find a pip-installed plugin's.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

MODULE = '''
import os
import time


class Upper:
    """Upper-cases the file in place (declares it, so its original is kept for undo)."""

    def paths(self, path, args):
        return [path]

    def run(self, path, args):
        with open(path, "rb") as f:
            data = f.read()
        with open(path, "wb") as f:
            f.write(data.upper())
        return "upper"


class Abort:
    def paths(self, path, args):
        return []

    def run(self, path, args):
        os.abort()


class Raise:
    def paths(self, path, args):
        return []

    def run(self, path, args):
        raise ValueError("handler refused " + os.path.basename(path))


class Hang:
    def paths(self, path, args):
        return []

    def run(self, path, args):
        time.sleep(1000)


class Hog:
    """Holds 600 MiB for a while: far beyond a worker memory cap of a few hundred MiB."""

    def paths(self, path, args):
        return []

    def run(self, path, args):
        block = bytearray(600 * 2**20)
        time.sleep(5)
        return str(len(block))


upper = Upper()
hog = Hog()
abort = Abort()
fail = Raise()
hang = Hang()
'''


def install_handlers(root: Path) -> dict[str, str]:
    """Write the distribution under ``root``; returns the environment that makes it visible."""
    site = root / "handler-site"
    info = site / "batchd_test_handlers-1.0.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: batchd-test-handlers\nVersion: 1.0\n"
    )
    (info / "entry_points.txt").write_text(
        textwrap.dedent(
            """\
            [batchd.handlers]
            upper = batchd_test_handlers:upper
            abort = batchd_test_handlers:abort
            fail = batchd_test_handlers:fail
            hang = batchd_test_handlers:hang
            hog = batchd_test_handlers:hog
            """
        )
    )
    (site / "batchd_test_handlers.py").write_text(MODULE)
    return {"PYTHONPATH": str(site)}
