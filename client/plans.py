"""Plans built from command-line arguments, for ``batchctl move``, ``rename`` and the others.

Pure functions: arguments in, JSON Lines bytes (contract.md, "Plan files") out. Paths stay
relative or absolute exactly as given; the daemon resolves them against the working directory
the upload carries. A name whose bytes are not UTF-8 travels as ``{"b64": "..."}`` (the plan
reader accepts that form in every path field), so any file name survives the trip.

Nothing here touches the filesystem: whether a source exists, a destination is free or a
swap needs ordering is the daemon's validation, with line numbers.
"""

from __future__ import annotations

import base64
import json
import os
import posixpath
import re
import shlex
from collections.abc import Iterable, Sequence

DEFAULT_CHECKSUM_ALGORITHM = "sha256"

PathValue = str | dict[str, str]
Item = dict[str, object]


class PlanArgumentError(ValueError):
    """Raised when arguments cannot make a plan (no name to move, a bad pattern, ...)."""


def path_value(path: str) -> PathValue:
    """A path as a plan field: its text when its bytes are UTF-8, else ``{"b64": ...}``."""
    raw = _fsencode(path)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return {"b64": base64.b64encode(raw).decode("ascii")}


def plan_bytes(items: Iterable[Item]) -> bytes:
    """Items as JSON Lines: one compact object per line, each ending in a newline."""
    lines = []
    for item in items:
        try:
            line = json.dumps(item, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate (argument bytes that are not UTF-8)
            line = json.dumps(item).encode("ascii")
        lines.append(line + b"\n")
    return b"".join(lines)


def move_items(sources: Sequence[str], directory: str, *, overwrite: bool = False) -> list[Item]:
    """``move SRC… DIR``: each source into ``DIR/<its name>``."""
    return _into_directory("move", sources, directory, overwrite)


def copy_items(sources: Sequence[str], directory: str, *, overwrite: bool = False) -> list[Item]:
    """``copy SRC… DIR``: each source copied to ``DIR/<its name>``."""
    return _into_directory("copy", sources, directory, overwrite)


def rename_items(
    pattern: str, replacement: str, paths: Sequence[str], *, overwrite: bool = False
) -> list[Item]:
    """``rename REGEX REPL PATH…``: moves renaming the final name with :func:`re.sub`.

    Paths whose name does not match, or whose new name equals the old, are left out. A new
    name that is empty, ``.``/``..`` or contains ``/`` is refused: rename never changes the
    directory. Ordering chains and swaps is the daemon's job.
    """
    try:
        regex = re.compile(pattern)
    except re.error as exc:
        raise PlanArgumentError(f"bad regular expression {pattern!r}: {exc}") from None
    items: list[Item] = []
    for path in paths:
        head, name = _split_name(path)
        if not regex.search(name):
            continue
        try:
            new_name = regex.sub(replacement, name)
        except (re.error, IndexError) as exc:
            raise PlanArgumentError(f"bad replacement {replacement!r}: {exc}") from None
        if new_name == name:
            continue
        if new_name in ("", ".", "..") or "/" in new_name or "\0" in new_name:
            raise PlanArgumentError(
                f"renaming {path!r} gives the name {new_name!r}; a new name must be non-empty, "
                "not '.' or '..', and contain neither '/' nor NUL"
            )
        items.append(_move_or_copy("move", path, head + new_name, overwrite))
    return items


def delete_items(paths: Sequence[str]) -> list[Item]:
    """``delete PATH…``."""
    return [{"op": "delete", "path": path_value(_nonempty(p))} for p in _some(paths)]


def mkdir_items(paths: Sequence[str]) -> list[Item]:
    """``mkdir PATH…``, in the order given (a parent before its children)."""
    return [{"op": "mkdir", "path": path_value(_nonempty(p))} for p in _some(paths)]


def transform_items(command: str, paths: Sequence[str]) -> list[Item]:
    """``transform --command CMD PATH…``: CMD split like a shell would, but never run by one."""
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise PlanArgumentError(f"cannot split the command {command!r}: {exc}") from None
    if not argv:
        raise PlanArgumentError("the transform command is empty")
    return [
        {"op": "transform", "path": path_value(_nonempty(p)), "command": argv} for p in _some(paths)
    ]


def checksum_items(paths: Sequence[str], algorithm: str = DEFAULT_CHECKSUM_ALGORITHM) -> list[Item]:
    """``checksum [--algorithm A] PATH…``."""
    if not algorithm:
        raise PlanArgumentError("the checksum algorithm is empty")
    return [
        {"op": "checksum", "path": path_value(_nonempty(p)), "algorithm": algorithm}
        for p in _some(paths)
    ]


def _into_directory(op: str, sources: Sequence[str], directory: str, overwrite: bool) -> list[Item]:
    _nonempty(directory)
    target = directory if directory.endswith("/") else directory + "/"
    items = []
    for source in _some(sources):
        _, name = _split_name(source)
        if name in ("", ".", ".."):
            raise PlanArgumentError(f"cannot {op} {source!r} into a directory: it has no name")
        items.append(_move_or_copy(op, source, target + name, overwrite))
    return items


def _move_or_copy(op: str, source: str, destination: str, overwrite: bool) -> Item:
    item: Item = {"op": op, "src": path_value(source), "dst": path_value(destination)}
    if overwrite:
        item["overwrite"] = True
    return item


def _split_name(path: str) -> tuple[str, str]:
    """The path up to and including its last ``/``, and its final name; trailing slashes
    (``photos/``) do not count, as with ``mv``."""
    _nonempty(path)
    trimmed = path.rstrip("/")
    if not trimmed:
        return path, ""
    name = posixpath.basename(trimmed)
    return trimmed[: len(trimmed) - len(name)], name


def _some(paths: Sequence[str]) -> Sequence[str]:
    if not paths:
        raise PlanArgumentError("no paths given")
    return paths


def _nonempty(path: str) -> str:
    if not path:
        raise PlanArgumentError("an empty path was given")
    return path


def _fsencode(path: str) -> bytes:
    try:
        return os.fsencode(path)
    except UnicodeEncodeError:
        raise PlanArgumentError(f"the path {path!r} cannot be made into file-name bytes") from None
