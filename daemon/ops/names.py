"""Deterministic temporary names beside a target, so that recovery can find and remove them.

A step's temp is ``.batchd-tmp-<batch>-<index>`` in the target's directory; a second temp of
the same step (e.g. the source side of a cross-filesystem move) adds ``.<n>``. Being
deterministic, a re-run of the step finds (and discards) what a crashed run left behind.
"""

from __future__ import annotations

import os
import re
from typing import Final

PREFIX: Final = b".batchd-tmp-"
_PATTERN: Final = re.compile(rb"\.batchd-tmp-(\d+)-(\d+)(?:\.(\d+))?")


def temp_name(batch: int, index: int, n: int = 0) -> bytes:
    """The base name of temp ``n`` of step ``index`` of ``batch``."""
    suffix = b"" if n == 0 else b".%d" % n
    return PREFIX + b"%d-%d" % (batch, index) + suffix


def temp_beside(target: bytes, batch: int, index: int, n: int = 0) -> bytes:
    """The temp path in ``target``'s directory."""
    return os.path.join(os.path.dirname(target), temp_name(batch, index, n))


def parse_temp_name(name: bytes) -> tuple[int, int, int] | None:
    """``(batch, index, n)`` when ``name`` (a base name) is one of our temps, else None."""
    match = _PATTERN.fullmatch(name)
    if match is None:
        return None
    return int(match[1]), int(match[2]), int(match[3] or 0)


def is_temp_name(name: bytes) -> bool:
    """True when the base name ``name`` is a batchd temp."""
    return parse_temp_name(name) is not None
