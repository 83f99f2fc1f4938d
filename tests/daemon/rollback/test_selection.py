"""Which items a rollback undoes: ``--items`` specs and ``--paths`` globs (pure)."""

from __future__ import annotations

import hypothesis.strategies as st
import pytest
from hypothesis import given

from batchd.daemon.ops.step import OpKind, Step
from batchd.daemon.rollback.selection import MAX_RANGES, Selection, parse_items
from batchd.protocol.errors import InvalidArguments


def _step(line: int, path: bytes = b"/srv/x", dest: bytes | None = None) -> Step:
    op = OpKind.MOVE if dest is not None else OpKind.DELETE
    return Step(0, line, op, path, dest)


@pytest.mark.parametrize(
    ("spec", "ranges"),
    [
        ("", ()),
        ("   ", ()),
        ("3", ((3, 3),)),
        ("3,7-9", ((3, 3), (7, 9))),
        (" 3 , 7 - 9 ", ((3, 3), (7, 9))),
        ("5-5", ((5, 5),)),
        ("9,1", ((9, 9), (1, 1))),
    ],
)
def test_good_specs_parse_to_ranges(spec: str, ranges: tuple[tuple[int, int], ...]) -> None:
    assert parse_items(spec) == ranges


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("a", "bad item selection 'a'"),
        ("3,", "bad item selection ''"),
        ("3-", "bad item selection '3-'"),
        ("-3", "bad item selection '-3'"),
        ("1-2-3", "bad item selection '1-2-3'"),
        ("1;2", "bad item selection '1;2'"),
        ("0", "bad item range '0'"),
        ("0-4", "bad item range '0-4'"),
        ("9-7", "bad item range '9-7'"),
    ],
)
def test_bad_specs_name_the_bad_part(spec: str, words: str) -> None:
    with pytest.raises(InvalidArguments) as caught:
        parse_items(spec)
    assert words in caught.value.message
    assert caught.value.details == {"field": "items"}


def test_a_long_bad_part_is_clipped_in_the_message() -> None:
    with pytest.raises(InvalidArguments) as caught:
        parse_items("x" * 10_000)
    assert len(caught.value.message) < 1_000


def test_too_many_ranges_are_refused() -> None:
    assert len(parse_items(",".join(["1"] * MAX_RANGES))) == MAX_RANGES
    with pytest.raises(InvalidArguments, match=f"at most {MAX_RANGES}"):
        parse_items(",".join(["1"] * (MAX_RANGES + 1)))


@given(st.lists(st.tuples(st.integers(1, 10**6), st.integers(0, 50)), min_size=1, max_size=20))
def test_rendered_ranges_parse_back(pairs: list[tuple[int, int]]) -> None:
    ranges = [(first, first + extra) for first, extra in pairs]
    spec = ",".join(f"{a}" if a == b else f"{a}-{b}" for a, b in ranges)
    assert parse_items(spec) == tuple(ranges)


@given(st.text(alphabet="0123456789-, x", max_size=12))
def test_parse_items_matches_a_plain_oracle(spec: str) -> None:
    def oracle() -> tuple[tuple[int, int], ...] | None:
        if not spec.strip():
            return ()
        out = []
        for part in spec.split(","):
            bounds = [b.strip() for b in part.split("-")]
            if len(bounds) > 2 or not all(b.isdigit() for b in bounds):
                return None
            first, last = int(bounds[0]), int(bounds[-1])
            if first < 1 or last < first:
                return None
            out.append((first, last))
        return tuple(out)

    expected = oracle()
    if expected is None:
        with pytest.raises(InvalidArguments):
            parse_items(spec)
    else:
        assert parse_items(spec) == expected


def test_everything_only_when_no_part_narrows() -> None:
    assert Selection().everything
    assert Selection.parse("", ()).everything
    assert not Selection.parse("1", ()).everything
    assert not Selection.parse("", ("/a/*",)).everything


def test_lines_select_by_plan_line() -> None:
    selection = Selection.parse("3,7-9", ())
    assert [line for line in range(1, 12) if selection.selects(_step(line))] == [3, 7, 8, 9]


def test_globs_match_either_side_of_a_move() -> None:
    selection = Selection.parse("", ("/srv/photos/*.jpg",))
    assert selection.selects(_step(1, b"/srv/photos/a.jpg"))
    assert selection.selects(_step(1, b"/tmp/in", dest=b"/srv/photos/b.jpg"))
    assert selection.selects(_step(1, b"/srv/photos/a.jpg", dest=b"/elsewhere/a"))
    assert not selection.selects(_step(1, b"/srv/photos/a.png"))
    assert not selection.selects(_step(1, b"/srv/other/a.jpg", dest=b"/srv/other/b.jpg"))


def test_globs_are_case_sensitive_and_any_glob_may_match() -> None:
    selection = Selection.parse("", ("/a/*.JPG", "/b/?"))
    assert selection.selects(_step(1, b"/a/x.JPG"))
    assert not selection.selects(_step(1, b"/a/x.jpg"))
    assert selection.selects(_step(1, b"/b/c"))
    assert not selection.selects(_step(1, b"/b/cd"))


def test_lines_and_globs_must_both_match() -> None:
    selection = Selection.parse("2", ("/a/*",))
    assert selection.selects(_step(2, b"/a/x"))
    assert not selection.selects(_step(3, b"/a/x"))
    assert not selection.selects(_step(2, b"/b/x"))


def test_a_path_that_is_not_valid_utf8_can_still_be_matched() -> None:
    selection = Selection.parse("", ("/a/*",))
    assert selection.selects(_step(1, b"/a/\xff\xfe"))


@pytest.mark.parametrize("glob", ["", "relative/*.jpg", "*.jpg"])
def test_globs_must_be_absolute(glob: str) -> None:
    with pytest.raises(InvalidArguments, match="must be absolute") as caught:
        Selection.parse("", ("/ok", glob))
    assert caught.value.details == {"field": "paths"}


def test_parse_raises_for_a_bad_items_spec() -> None:
    with pytest.raises(InvalidArguments, match="bad item"):
        Selection.parse("x", ("/a",))


def test_a_line_number_with_thousands_of_digits_is_invalid_arguments() -> None:
    with pytest.raises(InvalidArguments, match="bad item"):
        parse_items("9" * 5000)
