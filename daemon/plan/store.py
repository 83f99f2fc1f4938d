"""The validated plan on disk, in execution order, read back in ranges with ``os.pread``.

A store is a directory of three files (format in docs/plan-format.md):

- ``steps.bin``: one msgpack array per step (``Step.to_row()``), back to back;
- ``index.bin``: ``total + 1`` little-endian u64 offsets into ``steps.bin`` (the last one is
  its size), so step ``i`` is ``steps.bin[offset[i]:offset[i + 1]]``;
- ``plan.meta``: a msgpack map ``{"format", "batch", "total", "levels"}`` where ``levels`` is
  a list of ``[level, first index, count]``. Written last: a store without it is incomplete.

Execution order is (level, larger size first, plan line, validation order); ``Step.index`` is
the position in that order. Each file is written to a temporary name, fsynced and renamed,
then the directory is fsynced.
"""

from __future__ import annotations

import os
import struct
import sys
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Final, Self

import msgpack

from batchd.daemon.ops.step import Step
from batchd.daemon.plan.steps import PlannedSteps

FORMAT_VERSION: Final = 1
META = "plan.meta"
STEPS = "steps.bin"
INDEX = "index.bin"
_U64: Final = struct.Struct("<Q")
_SIZE_BITS: Final = 64
_LINE_BITS: Final = 40
_ORDER_BITS: Final = 40


class PlanStoreError(Exception):
    """A plan store is missing, incomplete, of another format version, or inconsistent."""


@dataclass(frozen=True, slots=True)
class LevelSpan:
    """The steps of one dependency level: indexes ``first`` to ``first + count - 1``."""

    level: int
    first: int
    count: int


def execution_order(steps: Sequence[Step], levels: Sequence[int]) -> list[int]:
    """Positions of ``steps`` in execution order: ``result[index]`` is the position of the
    step that gets ``index`` (what ``PlanStoreWriter.write`` does to them)."""
    return _execution_order(steps, levels)


def _execution_order(steps: Sequence[Step], levels: Sequence[int]) -> list[int]:
    # One packed int per step (position in the low bits, so keys are unique and the order
    # is read back from them) keeps the sort at ~40 bytes per step and needs no key function.
    biggest = (1 << _SIZE_BITS) - 1
    lines: Iterable[int]
    sizes: Iterable[int]
    if isinstance(steps, PlannedSteps):  # columns: no Step is built
        lines, sizes = steps.lines(), steps.sizes
    else:
        lines, sizes = (step.line for step in steps), (step.size for step in steps)
    keys = [
        ((level << _SIZE_BITS | biggest - min(size, biggest)) << _LINE_BITS | line) << _ORDER_BITS
        | position
        for position, (level, size, line) in enumerate(zip(levels, sizes, lines, strict=True))
    ]
    keys.sort()
    mask = (1 << _ORDER_BITS) - 1
    return [key & mask for key in keys]


def _replace_file(directory: Path, name: str, chunks: Sequence[bytes] | None = None) -> Path:
    """Write to a temp name and fsync; returns the temp path for ``_commit``."""
    temp = directory / f".{name}.tmp"
    with temp.open("wb") as out:
        for chunk in chunks or ():
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    return temp


def _commit(temp: Path, directory: Path, name: str) -> None:
    os.replace(temp, directory / name)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class PlanStoreWriter:
    """Writes one batch's validated steps into ``directory`` (created if missing)."""

    def __init__(self, directory: Path, *, batch: int) -> None:
        self.directory = Path(directory)
        self.batch = batch

    def write(
        self,
        steps: Sequence[Step],
        levels: Sequence[int],
        timeouts: Sequence[float | None] | None = None,
    ) -> tuple[LevelSpan, ...]:
        """Write ``steps`` (any order; ``levels[i]`` belongs to ``steps[i]``) in execution
        order with ``index`` set to the execution position; returns the level table.

        ``timeouts[i]``, when given, is used for a step whose ``timeout`` is 0 (older
        callers; steps now carry their timeout themselves).
        """
        if len(levels) != len(steps) or (timeouts is not None and len(timeouts) != len(steps)):
            raise ValueError(f"{len(steps)} steps but {len(levels)} levels or other timeouts")
        self.directory.mkdir(parents=True, exist_ok=True)
        order = _execution_order(steps, levels)
        row_of = steps.row if isinstance(steps, PlannedSteps) else None
        spans: list[LevelSpan] = []
        offsets = array("Q")
        pack = msgpack.Packer(use_bin_type=True).pack
        temp_steps = self.directory / f".{STEPS}.tmp"
        level, first = -1, 0
        with temp_steps.open("wb") as out:
            offset = 0
            for index, position in enumerate(order):
                row = row_of(position) if row_of is not None else steps[position].to_row()
                row[0] = index
                if timeouts is not None and not row[11]:
                    row[11] = float(timeouts[position] or 0.0)
                data = pack(row)
                offsets.append(offset)
                out.write(data)
                offset += len(data)
                if levels[position] != level or index == 0:
                    if index:
                        spans.append(LevelSpan(level, first, index - first))
                    level, first = levels[position], index
            if order:
                spans.append(LevelSpan(level, first, len(order) - first))
            offsets.append(offset)
            out.flush()
            os.fsync(out.fileno())
        if sys.byteorder != "little":
            offsets.byteswap()
        meta = msgpack.packb(
            {
                "format": FORMAT_VERSION,
                "batch": self.batch,
                "total": len(order),
                "levels": [[span.level, span.first, span.count] for span in spans],
            }
        )
        _commit(temp_steps, self.directory, STEPS)
        _commit(_replace_file(self.directory, INDEX, [offsets.tobytes()]), self.directory, INDEX)
        _commit(_replace_file(self.directory, META, [meta]), self.directory, META)
        _fsync_dir(self.directory)
        return tuple(spans)


class PlanStore:
    """A written plan store, open for ranged reads; the daemon holds no steps in memory."""

    def __init__(
        self,
        directory: Path,
        batch: int,
        total: int,
        levels: tuple[LevelSpan, ...],
        fds: tuple[int, int],
    ) -> None:
        self.directory = directory
        self.batch = batch
        self.total = total
        self.levels = levels
        self._steps_fd, self._index_fd = fds

    @classmethod
    def open(cls, directory: Path) -> PlanStore:
        """Open the store in ``directory``; raises ``PlanStoreError`` if it is not usable."""
        directory = Path(directory)
        try:
            meta = msgpack.unpackb((directory / META).read_bytes())
        except FileNotFoundError:
            raise PlanStoreError(
                f"no complete plan store in {directory} ({META} is missing)"
            ) from None
        except (ValueError, msgpack.UnpackException) as error:
            raise PlanStoreError(f"{directory / META} is damaged: {error}") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT_VERSION:
            version = meta.get("format") if isinstance(meta, dict) else None
            raise PlanStoreError(
                f"{directory} holds plan store format {version!r}; this batchd reads "
                f"format {FORMAT_VERSION}"
            )
        total = int(meta["total"])
        levels = tuple(LevelSpan(*span) for span in meta["levels"])
        fds: list[int] = []
        try:
            for name in (STEPS, INDEX):
                fds.append(os.open(directory / name, os.O_RDONLY | os.O_CLOEXEC))
            if os.fstat(fds[1]).st_size != 8 * (total + 1):
                raise PlanStoreError(f"{directory / INDEX} does not match {total} steps")
            end = _U64.unpack(os.pread(fds[1], 8, 8 * total))[0]
            if os.fstat(fds[0]).st_size != end:
                raise PlanStoreError(f"{directory / STEPS} is not {end} bytes long")
        except (OSError, PlanStoreError) as error:
            for fd in fds:
                os.close(fd)
            if isinstance(error, PlanStoreError):
                raise
            raise PlanStoreError(f"cannot open the plan store in {directory}: {error}") from None
        return cls(directory, int(meta["batch"]), total, levels, (fds[0], fds[1]))

    def _check_range(self, first: int, count: int) -> int:
        if first < 0 or count < 0 or first > self.total:
            raise ValueError(f"range {first}+{count} is outside 0..{self.total}")
        return min(count, self.total - first)

    def read(self, first: int, count: int) -> list[Step]:
        """Steps ``first`` .. ``first + count - 1`` (fewer at the end of the plan)."""
        count = self._check_range(first, count)
        if count == 0:
            return []
        raw = os.pread(self._index_fd, 8 * (count + 1), 8 * first)
        start = _U64.unpack_from(raw, 0)[0]
        end = _U64.unpack_from(raw, 8 * count)[0]
        data = os.pread(self._steps_fd, end - start, start)
        if len(data) != end - start:
            raise PlanStoreError(f"{self.directory / STEPS} is shorter than its index says")
        unpacker = msgpack.Unpacker(raw=False, use_list=True)
        unpacker.feed(data)
        return [Step.from_row(row) for row in unpacker]

    def close(self) -> None:
        """Close the files (idempotent)."""
        for fd in (self._steps_fd, self._index_fd):
            if fd >= 0:
                os.close(fd)
        self._steps_fd = self._index_fd = -1

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
