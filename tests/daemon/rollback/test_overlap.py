"""Cross-batch overlap of touched paths (pure), checked against a brute-force oracle."""

from __future__ import annotations

import hypothesis.strategies as st
from hypothesis import given

from batchd.daemon.ops.step import OpKind, Step
from batchd.daemon.rollback.overlap import overlaps, touched


def _step(op: OpKind, path: bytes, dest: bytes | None = None) -> Step:
    return Step(0, 1, op, path, dest)


def test_touched_has_paths_and_move_or_copy_destinations_but_no_checksums() -> None:
    steps = [
        _step(OpKind.MOVE, b"/a/m", b"/b/m"),
        _step(OpKind.COPY, b"/a/c", b"/b/c"),
        _step(OpKind.DELETE, b"/a/d"),
        _step(OpKind.MKDIR, b"/a/new"),
        _step(OpKind.TRANSFORM, b"/a/t"),
        _step(OpKind.CALL, b"/a/call"),
        _step(OpKind.CHECKSUM, b"/a/sum"),
        _step(OpKind.RESTORE, b"/a/r", b"/state/undo/1/0"),  # the store entry is not touched
    ]
    assert touched(steps) == {
        b"/a/m",
        b"/b/m",
        b"/a/c",
        b"/b/c",
        b"/a/d",
        b"/a/new",
        b"/a/t",
        b"/a/call",
        b"/a/r",
    }


def test_touched_of_nothing_is_empty() -> None:
    assert touched([]) == set()
    assert touched([_step(OpKind.CHECKSUM, b"/a")]) == set()


def test_equal_paths_overlap() -> None:
    assert overlaps({b"/a/b"}, {b"/a/b"})


def test_an_ancestor_overlaps_either_way() -> None:
    assert overlaps({b"/a"}, {b"/a/b/c"})
    assert overlaps({b"/a/b/c"}, {b"/a"})
    assert overlaps({b"/"}, {b"/x"})
    assert overlaps({b"/x/y"}, {b"/"})


def test_siblings_with_a_shared_prefix_do_not_overlap() -> None:
    assert not overlaps({b"/a/b"}, {b"/a/bc"})
    assert not overlaps({b"/a/bc"}, {b"/a/b"})
    assert not overlaps({b"/a/b"}, {b"/a/b.bak", b"/a/c/b"})
    assert not overlaps({b"/a/b/x"}, {b"/a/bx/x"})


def test_an_empty_side_never_overlaps() -> None:
    assert not overlaps(set(), {b"/a"})
    assert not overlaps({b"/a"}, set())
    assert not overlaps(set(), set())


def _inside(path: bytes, parent: bytes) -> bool:
    return path == parent or path.startswith(parent.rstrip(b"/") + b"/")


_names = st.sampled_from([b"a", b"b", b"ab", b"b.c", b"x"])
_paths = st.lists(_names, min_size=1, max_size=4).map(lambda parts: b"/" + b"/".join(parts))
_sets = st.sets(st.one_of(_paths, st.just(b"/")), max_size=5)


@given(_sets, _sets)
def test_overlaps_matches_a_brute_force_oracle(mine: set[bytes], theirs: set[bytes]) -> None:
    oracle = any(_inside(m, t) or _inside(t, m) for m in mine for t in theirs)
    assert overlaps(mine, theirs) == oracle
    assert overlaps(theirs, mine) == oracle
