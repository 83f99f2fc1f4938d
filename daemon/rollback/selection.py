"""Which items of a batch a rollback undoes: ``--items 3,7-9`` (plan lines) and
``--paths GLOB`` (shell globs on absolute paths, either side of a move or copy)."""

from __future__ import annotations

import fnmatch
import os
import re
from dataclasses import dataclass
from typing import Final

from batchd.daemon.ops.step import Step
from batchd.protocol.errors import InvalidArguments, clip

_RANGE: Final = re.compile(r"\s*(\d{1,18})\s*(?:-\s*(\d{1,18})\s*)?")
MAX_RANGES: Final = 10_000


def parse_items(spec: str) -> tuple[tuple[int, int], ...]:
    """``"3,7-9"`` → ``((3, 3), (7, 9))``; empty → ``()`` (every line). Raises
    InvalidArguments naming the bad part."""
    if not spec.strip():
        return ()
    ranges = []
    for part in spec.split(","):
        match = _RANGE.fullmatch(part)
        if match is None:
            raise InvalidArguments(
                f"bad item selection {clip(part)!r}: use plan lines like 3,7-9",
                {"field": "items"},
            )
        first = int(match[1])
        last = int(match[2]) if match[2] else first
        if first < 1 or last < first:
            raise InvalidArguments(
                f"bad item range {clip(part)!r}: lines start at 1 and a range goes up",
                {"field": "items"},
            )
        ranges.append((first, last))
    if len(ranges) > MAX_RANGES:
        raise InvalidArguments(f"at most {MAX_RANGES} item ranges", {"field": "items"})
    return tuple(ranges)


@dataclass(frozen=True, slots=True)
class Selection:
    """The items a rollback undoes: all when both parts are empty; else those matching
    every non-empty part."""

    lines: tuple[tuple[int, int], ...] = ()
    globs: tuple[str, ...] = ()

    @classmethod
    def parse(cls, items: str, paths: tuple[str, ...]) -> Selection:
        """From the request's fields; raises InvalidArguments."""
        globs = tuple(paths)
        for glob in globs:
            if not glob or not os.path.isabs(glob):
                raise InvalidArguments(
                    f"path glob {clip(glob)!r} must be absolute", {"field": "paths"}
                )
        return cls(parse_items(items), globs)

    @property
    def everything(self) -> bool:
        """True when no part narrows the selection."""
        return not self.lines and not self.globs

    def selects(self, step: Step) -> bool:
        """Whether ``step`` (a forward step) is selected."""
        if self.lines and not any(first <= step.line <= last for first, last in self.lines):
            return False
        if self.globs:
            names = [os.fsdecode(step.path)]
            if step.dest is not None:
                names.append(os.fsdecode(step.dest))
            return any(fnmatch.fnmatchcase(n, g) for n in names for g in self.globs)
        return True
