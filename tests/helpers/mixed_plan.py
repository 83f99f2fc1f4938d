"""A mixed plan over a generated tree, with the tree it must produce (the oracle).

Every kind of op appears: mkdirs, moves into new directories, a swap and a 3-cycle, copies,
deletes, non-idempotent transforms (a second run would show: each prefixes one "X"), and
checksums whose digests are known.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from pathlib import Path

from trees import Entry, file_entry, make_files


@dataclass
class MixedPlan:
    """The initial files, the plan items and the expected result."""

    files: dict[str, bytes]
    items: list[dict[str, object]] = field(default_factory=list)
    expected_files: dict[str, Entry] = field(default_factory=dict)
    expected_dirs: set[str] = field(default_factory=set)
    checksums: dict[int, str] = field(default_factory=dict)
    """Plan line → expected hex digest."""

    def create(self, root: Path) -> None:
        """Lay out the initial tree under ``root``."""
        make_files(root, self.files)


def mixed_plan(count: int, seed: int = 0) -> MixedPlan:
    """About ``count`` items (a few more for the swap, the cycle and the mkdirs)."""
    rng = random.Random(seed)
    files = {
        f"src/f{i:05d}.txt": (f"file {i} " + "x" * rng.randint(0, 300) + "\n").encode()
        for i in range(count)
    }
    files.update({"swap/a": b"content of a", "swap/b": b"content of b"})
    files.update({"cycle/x": b"X", "cycle/y": b"Y", "cycle/z": b"Z"})
    plan = MixedPlan(files)
    items, expected = plan.items, plan.expected_files
    items += [{"op": "mkdir", "path": "out"}, {"op": "mkdir", "path": "copies"}]
    items += [{"op": "mkdir", "path": f"out/d{k}"} for k in range(10)]
    plan.expected_dirs |= {"src", "swap", "cycle", "out", "copies"} | {
        f"out/d{k}" for k in range(10)
    }
    for i, name in enumerate(sorted(n for n in files if n.startswith("src/"))):
        content, base, kind = files[name], Path(name).name, i % 10
        if kind < 4:
            items.append({"op": "move", "src": name, "dst": f"out/d{i % 10}/{base}"})
            expected[f"out/d{i % 10}/{base}"] = file_entry(content)
        elif kind < 6:
            items.append({"op": "copy", "src": name, "dst": f"copies/{base}"})
            expected[name] = expected[f"copies/{base}"] = file_entry(content)
        elif kind < 7:
            items.append({"op": "delete", "path": name})
        elif kind < 9:
            items.append({"op": "transform", "path": name, "command": ["sed", "s/^/X/"]})
            expected[name] = file_entry(b"X" + content)
        else:
            plan.checksums[len(items) + 1] = hashlib.sha256(content).hexdigest()
            items.append({"op": "checksum", "path": name})
            expected[name] = file_entry(content)
    items += [
        {"op": "move", "src": "swap/a", "dst": "swap/b"},
        {"op": "move", "src": "swap/b", "dst": "swap/a"},
        {"op": "move", "src": "cycle/x", "dst": "cycle/y"},
        {"op": "move", "src": "cycle/y", "dst": "cycle/z"},
        {"op": "move", "src": "cycle/z", "dst": "cycle/x"},
    ]
    expected.update(
        {
            "swap/a": file_entry(b"content of b"),
            "swap/b": file_entry(b"content of a"),
            "cycle/y": file_entry(b"X"),
            "cycle/z": file_entry(b"Y"),
            "cycle/x": file_entry(b"Z"),
        }
    )
    return plan


def files_and_dirs(manifest: dict[str, Entry]) -> tuple[dict[str, Entry], set[str]]:
    """Split a manifest into its files (with content) and its directory names."""
    files = {path: entry for path, entry in manifest.items() if entry.kind == "file"}
    dirs = {path for path, entry in manifest.items() if entry.kind == "dir"}
    return files, dirs
