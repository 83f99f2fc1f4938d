"""The plan semantics, checked against a tiny reference interpreter on a dict tree.

For random small plans over a small universe of paths: the validator accepts exactly the
plans the reference accepts; conflicting steps never share a level (the later one is
higher); and running the steps level by level, in any order within a level, gives the tree
the reference computes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from batchd.daemon.ops.step import OpKind, Step
from batchd.daemon.plan import MemoryFileSystemView, validate_plan

ROOT = b"/r"
NAMES = [b"/r/a", b"/r/b", b"/r/c", b"/r/d", b"/r/d/a", b"/r/d/b", b"/r/e", b"/r/e/a", b"/r/f"]
RENAMEABLE = [b"/r/a", b"/r/b", b"/r/c", b"/r/d/a", b"/r/d/b"]
DIRS = {b"/r/d", b"/r/e"}


@dataclass
class Node:
    """One entry of the reference tree; ``writer`` is the plan line that placed it."""

    kind: str  # "f" or "d"
    content: str = ""
    writer: int = 0


Tree = dict[bytes, Node]


class Invalid(Exception):
    pass


def inside(path: bytes, directory: bytes) -> bool:
    return path.startswith(directory + b"/")


def related(one: bytes, other: bytes) -> bool:
    return one == other or inside(one, other) or inside(other, one)


def parent(path: bytes) -> bytes:
    return path.rpartition(b"/")[0] or b"/"


def subtree(tree: Tree, path: bytes) -> dict[bytes, Node]:
    return {p: n for p, n in tree.items() if p == path or inside(p, path)}


def remove(tree: Tree, path: bytes) -> dict[bytes, Node]:
    taken = subtree(tree, path)
    for p in taken:
        del tree[p]
    return taken


def place(tree: Tree, taken: dict[bytes, Node], src: bytes, dst: bytes) -> None:
    for p, node in taken.items():
        tree[dst + p[len(src) :]] = node


def has_dir(tree: Tree, path: bytes) -> bool:
    return path in (b"/", ROOT) or (path in tree and tree[path].kind == "d")


def check_destination(tree: Tree, item: dict[str, object], src_kind: str, dst: bytes) -> None:
    if not has_dir(tree, parent(dst)):
        raise Invalid("parent")
    existing = tree.get(dst)
    if existing is not None:
        if existing.writer or existing.kind == "d" or src_kind == "d":
            raise Invalid("destination")  # directories are never merged or replaced
        if not item.get("overwrite"):
            raise Invalid("exists")


def rename_groups(items: list[dict[str, object]]) -> dict[int, set[int]]:
    """Each move's group (moves linked by destination == source); raises Invalid for the
    plans no order can run: duplicates, nesting, other items touching a group between."""
    moves = [i for i, item in enumerate(items) if item["op"] == "move"]
    src = {i: items[i]["src"] for i in moves}
    dst = {i: items[i]["dst"] for i in moves}
    for item in items:
        if item["op"] in ("move", "copy") and (
            item["src"] == item["dst"] or inside(item["dst"], item["src"])  # type: ignore[arg-type]
        ):
            raise Invalid("self")
    if len(set(src.values())) < len(moves) or len(set(dst.values())) < len(moves):
        raise Invalid("duplicate")
    group_of = {i: {i} for i in moves}
    for i in moves:
        for j in moves:
            if dst[i] == src[j]:
                merged = group_of[i] | group_of[j]
                for k in merged:
                    group_of[k] = merged
    for members in {frozenset(g) for g in group_of.values()}:
        paths = {src[m] for m in members} | {dst[m] for m in members}
        if any(inside(p, q) for p in paths for q in paths):
            raise Invalid("nested")
        for k in range(min(members) + 1, max(members)):
            if k not in members:
                touched = [items[k].get("path"), items[k].get("src"), items[k].get("dst")]
                if any(related(t, p) for t in touched if t for p in paths):  # type: ignore[arg-type]
                    raise Invalid("between")
    return group_of


def reference(initial: Tree, items: list[dict[str, object]]) -> Tree:
    """The plan semantics, written as plainly as possible (raises Invalid)."""
    tree = {p: Node(n.kind, n.content) for p, n in initial.items()}
    group_of = rename_groups(items)
    src = {i: item["src"] for i, item in enumerate(items) if item["op"] == "move"}
    dst = {i: item["dst"] for i, item in enumerate(items) if item["op"] == "move"}
    for i, item in enumerate(items):
        line = i + 1
        op = item["op"]
        if op == "move":
            members = sorted(group_of[i])
            if i != members[-1]:
                continue
            for m in members:
                if src[m] not in tree:
                    raise Invalid("source")
            taken = {m: remove(tree, src[m]) for m in members}  # type: ignore[arg-type]
            for m in members:
                check_destination(tree, items[m], taken[m][src[m]].kind, dst[m])  # type: ignore[arg-type, index]
                place(tree, taken[m], src[m], dst[m])  # type: ignore[arg-type]
                tree[dst[m]].writer = m + 1  # type: ignore[index]
        elif op == "copy":
            source, dest = item["src"], item["dst"]
            if source not in tree:
                raise Invalid("source")
            taken = {p: Node(n.kind, n.content, n.writer) for p, n in subtree(tree, source).items()}  # type: ignore[arg-type]
            check_destination(tree, item, taken[source].kind, dest)  # type: ignore[arg-type, index]
            remove(tree, dest)  # type: ignore[arg-type]
            place(tree, taken, source, dest)  # type: ignore[arg-type]
            tree[dest].writer = line  # type: ignore[index]
        elif op == "mkdir":
            path = item["path"]
            if not has_dir(tree, parent(path)):  # type: ignore[arg-type]
                raise Invalid("parent")
            if path in tree:
                if tree[path].kind != "d":  # type: ignore[index]
                    raise Invalid("file")
            else:
                tree[path] = Node("d", writer=line)  # type: ignore[index]
        else:
            path = item["path"]
            node = tree.get(path)  # type: ignore[arg-type]
            if node is None or (op == "transform" and node.kind != "f"):
                raise Invalid("target")
            if op == "checksum" and node.kind == "d":
                raise Invalid("target")
            if op == "delete":
                remove(tree, path)  # type: ignore[arg-type]
            elif op == "transform":
                node.content += f"+t{line}"
    return tree


def execute(tree: Tree, step: Step) -> None:
    """What the executor does with one step; asserts its preconditions hold."""
    if step.op in (OpKind.MOVE, OpKind.COPY):
        assert step.dest is not None
        assert step.path in tree, f"source missing: {step}"
        assert has_dir(tree, parent(step.dest)), f"no parent: {step}"
        assert step.dest not in tree or step.overwrite, f"destination exists: {step}"
        remove(tree, step.dest)
        if step.op is OpKind.MOVE:
            place(tree, remove(tree, step.path), step.path, step.dest)
        else:
            copied = {p: Node(n.kind, n.content) for p, n in subtree(tree, step.path).items()}
            place(tree, copied, step.path, step.dest)
    elif step.op is OpKind.MKDIR:
        assert has_dir(tree, parent(step.path)), f"no parent: {step}"
        tree.setdefault(step.path, Node("d"))
    elif step.op is OpKind.DELETE:
        assert step.path in tree, f"missing: {step}"
        remove(tree, step.path)
    elif step.op is OpKind.TRANSFORM:
        tree[step.path].content += f"+t{step.line}"
    else:
        assert step.op is OpKind.CHECKSUM and step.path in tree


def touched(step: Step) -> list[tuple[bytes, bool]]:
    """(path, written) of a step, as the conflict rule defines them."""
    if step.op is OpKind.MOVE:
        assert step.dest is not None
        return [(step.path, True), (step.dest, True)]
    if step.op is OpKind.COPY:
        assert step.dest is not None
        return [(step.path, False), (step.dest, True)]
    return [(step.path, step.op is not OpKind.CHECKSUM)]


def conflict(one: Step, other: Step) -> bool:
    return any(
        (w1 or w2) and related(p1, p2) for p1, w1 in touched(one) for p2, w2 in touched(other)
    )


names = st.sampled_from(NAMES)
plan_items = st.one_of(
    st.builds(
        lambda op, s, d, o: {"op": op, "src": s.decode(), "dst": d.decode(), "overwrite": o},
        st.sampled_from(["move", "move", "copy"]),
        names,
        names,
        st.booleans(),
    ),
    st.builds(
        lambda op, p: {"op": op, "path": p.decode()},
        st.sampled_from(["delete", "mkdir", "checksum"]),
        names,
    ),
    st.builds(lambda p: {"op": "transform", "path": p.decode(), "command": ["cat"]}, names),
)


@st.composite
def initial_trees(draw: st.DrawFn) -> Tree:
    tree: Tree = {}
    for path in NAMES:
        if (parent(path) == ROOT or has_dir(tree, parent(path))) and draw(st.booleans()):
            tree[path] = Node("d") if path in DIRS else Node("f", path.decode())
    return tree


@st.composite
def rename_plans(draw: st.DrawFn) -> tuple[Tree, list[dict[str, object]]]:
    """Permutations of existing files (swaps, cycles, chains to free names) in random plan
    order, with a few other items mixed in."""
    tree: Tree = {p: Node("f", p.decode()) for p in RENAMEABLE}
    tree[b"/r/d"] = Node("d")
    tree[b"/r/e"] = Node("d")
    sources = draw(st.lists(st.sampled_from(RENAMEABLE), min_size=1, max_size=5, unique=True))
    free = draw(st.lists(st.sampled_from([b"/r/f", b"/r/e/a"]), max_size=2, unique=True))
    targets = draw(st.permutations(sources + free))
    items: list[dict[str, object]] = [
        {"op": "move", "src": src.decode(), "dst": dst.decode()}
        for src, dst in zip(sources, targets, strict=False)
    ]
    items = draw(st.permutations(items))
    for _ in range(draw(st.integers(0, 3))):
        extra = draw(plan_items | st.just({"op": "mkdir", "path": "/r/e"}))
        items.insert(draw(st.integers(0, len(items))), extra)
    return tree, items


def view_of(tree: Tree) -> MemoryFileSystemView:
    fs = MemoryFileSystemView()
    fs.add_dir(ROOT)
    for path, node in sorted(tree.items()):
        if node.kind == "d":
            fs.add_dir(path)
        else:
            fs.add_file(path, size=len(path))
    return fs


def shape(tree: Tree) -> dict[bytes, tuple[str, str]]:
    return {p: (n.kind, n.content) for p, n in tree.items()}


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.tuples(initial_trees(), st.lists(plan_items, min_size=1, max_size=6)) | rename_plans(),
    st.data(),
)
def test_validator_matches_the_reference_semantics(
    case: tuple[Tree, list[dict[str, object]]], data: st.DataObject
) -> None:
    initial, items = case
    absolute = [
        {k: v.encode() if isinstance(v, str) and k != "op" else v for k, v in item.items()}
        for item in items
    ]
    try:
        expected: Tree | None = reference(initial, absolute)
    except Invalid:
        expected = None
    lines = [(n, json.dumps(item).encode()) for n, item in enumerate(items, start=1)]
    result = validate_plan(lines, cwd=b"/", fs=view_of(initial), batch=9, known_handlers=())
    assert result.ok == (expected is not None), (result.problems, expected)
    if expected is None or result.steps is None:
        event("invalid")
        return
    event(f"valid, {len(items)} items")
    if any(s.dest and b".batchd-park" in s.dest for s in result.steps):
        event("valid with a cycle")
    if len(set(result.steps.levels)) > 2:
        event("valid with 3+ levels")
    steps, levels = list(result.steps), list(result.steps.levels)
    for later in range(len(steps)):
        for earlier in range(later):
            if conflict(steps[earlier], steps[later]):
                assert levels[earlier] < levels[later], (steps[earlier], steps[later])
    tree = {p: Node(n.kind, n.content) for p, n in initial.items()}
    for level in sorted(set(levels)):
        batch = [s for s, lv in zip(steps, levels, strict=True) if lv == level]
        for step in data.draw(st.permutations(batch)):
            execute(tree, step)
    assert shape(tree) == shape(expected)
