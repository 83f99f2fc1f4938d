"""validate_plan on the edge cases of edge-cases.md "Plans and validation"."""

from __future__ import annotations

import base64
import io
import json

from batchd.daemon.ops.step import OpKind, Step
from batchd.daemon.plan import (
    MemoryFileSystemView,
    ValidationResult,
    read_plan_lines,
    validate_plan,
)


def tree(*files: str, dirs: tuple[str, ...] = (), fold_case: bool = False) -> MemoryFileSystemView:
    fs = MemoryFileSystemView(fold_case=fold_case)
    fs.add_dir(b"/w")
    for name in dirs:
        fs.add_dir(name.encode())
    for number, name in enumerate(files):
        fs.add_file(name.encode(), size=100 + number)
    return fs


def check(
    fs: MemoryFileSystemView, *items: dict[str, object] | str, **kw: object
) -> ValidationResult:
    data = "\n".join(i if isinstance(i, str) else json.dumps(i) for i in items).encode()
    options: dict[str, object] = {"batch": 5, "known_handlers": {"exif"}} | kw
    return validate_plan(read_plan_lines(io.BytesIO(data)), cwd=b"/w", fs=fs, **options)  # type: ignore[arg-type]


def messages(result: ValidationResult) -> list[str]:
    return [str(problem) for problem in result.problems]


def moves(result: ValidationResult) -> list[tuple[int, str, str]]:
    assert result.steps is not None, messages(result)
    return [
        (level, step.path.decode(), (step.dest or b"").decode())
        for step, level in zip(result.steps, result.steps.levels, strict=True)
    ]


def move(src: str, dst: str, **extra: object) -> dict[str, object]:
    return {"op": "move", "src": src, "dst": dst, **extra}


def copy(src: str, dst: str, **extra: object) -> dict[str, object]:
    return {"op": "copy", "src": src, "dst": dst, **extra}


def op(name: str, path: str, **extra: object) -> dict[str, object]:
    return {"op": name, "path": path, **extra}


# -- renames as one simultaneous operation -------------------------------------------------


def test_swap() -> None:
    result = check(tree("/w/a", "/w/b"), move("a", "b"), move("b", "a"))
    assert moves(result) == [
        (0, "/w/a", "/w/.batchd-park-5-1"),
        (1, "/w/b", "/w/a"),
        (2, "/w/.batchd-park-5-1", "/w/b"),
    ]
    assert [s.line for s in result.steps or ()] == [1, 2, 1]


def test_three_cycle_routes_its_first_member_through_a_temporary_name() -> None:
    result = check(tree("/w/x", "/w/y", "/w/z"), move("x", "y"), move("y", "z"), move("z", "x"))
    assert [(src, dst) for _, src, dst in moves(result)] == [
        ("/w/x", "/w/.batchd-park-5-1"),
        ("/w/z", "/w/x"),
        ("/w/y", "/w/z"),
        ("/w/.batchd-park-5-1", "/w/y"),
    ]
    assert [level for level, _, _ in moves(result)] == [0, 1, 2, 3]


def test_chain_runs_from_its_end() -> None:
    result = check(tree("/w/a", "/w/b"), move("a", "b"), move("b", "c"))
    assert moves(result) == [(0, "/w/b", "/w/c"), (1, "/w/a", "/w/b")]


def test_chain_whose_middle_does_not_exist_explains_simultaneous_moves() -> None:
    result = check(tree("/w/a"), move("a", "b"), move("b", "c"))
    assert messages(result) == [
        "line 2: source /w/b does not exist (and no earlier line creates it); moves happen at "
        "once, so the move to it on line 1 does not provide it: move /w/a to its final name "
        "directly"
    ]


def test_chain_and_cycle_mixed_with_mkdirs_and_copies() -> None:
    fs = tree("/w/a", "/w/b", "/w/x", "/w/y", "/w/keep")
    result = check(
        fs,
        op("mkdir", "out"),
        move("x", "y"),
        copy("keep", "out/keep"),
        move("a", "b"),
        move("y", "x"),
        move("b", "out/b"),
        op("checksum", "out/b"),
        copy("out/keep", "out/keep2"),
    )
    assert moves(result) == [
        (0, "/w/out", ""),
        (1, "/w/keep", "/w/out/keep"),
        (0, "/w/x", "/w/.batchd-park-5-2"),
        (1, "/w/y", "/w/x"),
        (2, "/w/.batchd-park-5-2", "/w/y"),
        (1, "/w/b", "/w/out/b"),
        (2, "/w/a", "/w/b"),
        (2, "/w/out/b", ""),
        (2, "/w/out/keep", "/w/out/keep2"),
    ]


def test_case_only_rename_is_an_ordinary_move() -> None:
    assert moves(check(tree("/w/a.JPG"), move("a.JPG", "a.jpg"))) == [(0, "/w/a.JPG", "/w/a.jpg")]


def test_case_only_rename_on_a_case_insensitive_mount_goes_through_a_temporary_name() -> None:
    result = check(tree("/w/a.JPG", fold_case=True), move("a.JPG", "a.jpg"))
    assert moves(result) == [
        (0, "/w/a.JPG", "/w/.batchd-park-5-1"),
        (1, "/w/.batchd-park-5-1", "/w/a.jpg"),
    ]


def test_same_source_moved_twice() -> None:
    result = check(tree("/w/a"), move("a", "b"), move("a", "c"))
    assert messages(result) == ["line 2: source /w/a is also moved by line 1"]


def test_two_items_to_the_same_destination_name_both_lines() -> None:
    fs = tree("/w/a", "/w/b", "/w/c")
    assert messages(check(fs, move("a", "x"), move("b", "x"))) == [
        "line 2: destination /w/x is also written by line 1"
    ]
    assert messages(check(fs, copy("a", "x"), move("b", "x"))) == [
        "line 2: destination /w/x is also written by line 1"
    ]
    assert messages(check(fs, op("mkdir", "x"), copy("b", "x", overwrite=True))) == [
        "line 2: destination /w/x is also written by line 1"
    ]


def test_item_between_members_of_a_chain_is_told_where_to_go() -> None:
    result = check(tree("/w/a", "/w/b"), move("a", "b"), op("checksum", "b"), move("b", "c"))
    assert messages(result) == [
        "line 2: /w/b is touched while the moves on lines 1 to 3 rename it or a path around it "
        "as one chain or cycle; put this line before line 1 or after line 3"
    ]
    unrelated = check(
        tree("/w/a", "/w/b", "/w/q"), move("a", "b"), op("checksum", "q"), move("b", "c")
    )
    assert unrelated.ok


def test_nested_paths_in_one_chain() -> None:
    fs = tree("/w/b", dirs=("/w/a",))
    result = check(fs, move("a", "b", overwrite=True), move("b", "a/x"))
    assert result.problem_count == 1
    assert "is inside /w/a, which the same chain or cycle" in messages(result)[0]


# -- reading what earlier items changed -------------------------------------------------------


def test_reading_a_moved_or_deleted_path() -> None:
    fs = tree("/w/a", "/w/b")
    assert messages(check(fs, move("a", "c"), op("checksum", "a"))) == [
        "line 2: path /w/a was moved away by line 1"
    ]
    assert messages(check(fs, op("delete", "a"), copy("a", "z"))) == [
        "line 2: source /w/a was deleted by line 1"
    ]


def test_recreated_in_between_is_fine() -> None:
    result = check(tree("/w/a", "/w/b"), move("a", "c"), copy("b", "a"), op("checksum", "a"))
    assert [level for level, _, _ in moves(result)] == [0, 1, 2]


def test_content_of_a_moved_directory_moves_with_it() -> None:
    fs = tree("/w/d/f")
    assert messages(check(fs, move("d", "e"), op("checksum", "d/f"))) == [
        "line 2: path /w/d/f was moved away by line 1 (with /w/d)"
    ]
    assert moves(check(fs, move("d", "e"), op("checksum", "e/f"))) == [
        (0, "/w/d", "/w/e"),
        (1, "/w/e/f", ""),
    ]


def test_missing_source_or_target() -> None:
    assert messages(check(tree(), move("a", "b"), op("delete", "nope/x"))) == [
        "line 1: source /w/a does not exist (and no earlier line creates it)",
        "line 2: path /w/nope/x does not exist (and no earlier line creates it)",
    ]


# -- destinations ------------------------------------------------------------------------


def test_existing_destination_needs_overwrite() -> None:
    fs = tree("/w/a", "/w/b")
    assert messages(check(fs, copy("a", "b"))) == [
        'line 1: destination /w/b already exists; add "overwrite": true to replace it'
    ]
    assert check(fs, copy("a", "b", overwrite=True)).ok


def test_directory_and_file_are_never_merged() -> None:
    fs = tree("/w/f", "/w/d/x", "/w/e/y")
    assert messages(check(fs, move("d", "f", overwrite=True))) == [
        "line 1: cannot move a directory onto the file /w/f"
    ]
    assert messages(check(fs, copy("f", "d", overwrite=True))) == [
        "line 1: cannot copy a file onto the directory /w/d"
    ]
    assert messages(check(fs, move("d", "e", overwrite=True))) == [
        "line 1: cannot move a directory onto the existing directory /w/e: batchd never "
        "merges directories"
    ]
    assert check(fs, op("delete", "e"), move("d", "e")).ok  # replace it in two steps


def test_destination_parent_must_exist_or_be_created_earlier() -> None:
    fs = tree("/w/a", "/w/b", "/w/d/x")
    assert messages(check(fs, copy("a", "new/a"))) == [
        "line 1: parent directory /w/new of destination /w/new/a does not exist "
        "(and no earlier line creates it)"
    ]
    assert messages(check(fs, copy("a", "new/a"), op("mkdir", "new"))) == [
        "line 1: parent directory /w/new of destination /w/new/a does not exist "
        "(and no earlier line creates it)"
    ]
    assert check(fs, op("mkdir", "new"), copy("a", "new/a")).ok
    assert check(fs, move("d", "e"), copy("a", "e/a")).ok
    assert messages(check(fs, copy("b", "a/b"))) == [
        "line 1: /w/a is not a directory, so destination /w/a/b cannot be created"
    ]


def test_moving_a_directory_into_itself() -> None:
    assert messages(check(tree("/w/d/sub/x"), move("d", "d/sub/d"))) == [
        "line 1: cannot move /w/d into itself (/w/d/sub/d)"
    ]


def test_same_source_and_destination() -> None:
    assert messages(check(tree("/w/a"), move("a", "./a"))) == [
        "line 1: source and destination are the same path /w/a"
    ]


def test_bad_destination_names_have_line_numbers() -> None:
    result = check(
        tree("/w/a"),
        move("a", ""),
        move("a", "x\u0000y"),
        move("a", "."),
        move("a", "d/.."),
        move("a", "n" * 256),
        move("a", "d/" * 2100 + "f"),
    )
    assert [p.line for p in result.problems] == [1, 2, 3, 4, 5, 6]
    assert "NAME_MAX) is 255" in messages(result)[4]
    assert "PATH_MAX) is 4096" in messages(result)[5]


def test_mkdir_of_existing_directory_is_a_no_op_and_of_a_file_a_problem() -> None:
    fs = tree("/w/f", dirs=("/w/d",))
    assert moves(check(fs, op("mkdir", "d"))) == [(0, "/w/d", "")]
    assert messages(check(fs, op("mkdir", "f"))) == [
        "line 1: cannot create directory /w/f: a file exists there"
    ]


def test_transform_and_checksum_need_files() -> None:
    fs = tree(dirs=("/w/d",))
    result = check(fs, op("transform", "d", command=["cat"]), op("checksum", "d"))
    assert messages(result) == [
        "line 1: transform needs a regular file; /w/d is not one",
        "line 2: checksum needs a file; /w/d is a directory",
    ]


def test_symlinks_are_moved_themselves_and_may_dangle() -> None:
    fs = tree("/w/target")
    fs.add_symlink(b"/w/link", b"/w/target")
    fs.add_symlink(b"/w/dangling", b"/nowhere")
    result = check(fs, move("link", "l2"), op("delete", "dangling"), op("checksum", "target"))
    assert [level for level, _, _ in moves(result)] == [0, 0, 0]


def test_parent_reached_through_a_symlink_to_a_directory() -> None:
    fs = tree("/w/a", dirs=("/w/real",))
    fs.add_symlink(b"/w/via", b"real")
    fs.add_symlink(b"/w/broken", b"/nowhere")
    assert check(fs, copy("a", "via/a")).ok
    assert messages(check(fs, copy("a", "broken/a"))) == [
        "line 1: /w/broken is a symlink that does not lead to a directory"
    ]


def test_unknown_handler() -> None:
    result = check(tree("/w/a"), op("call", "a", handler="exif"), op("call", "a", handler="x"))
    assert messages(result) == ['line 2: unknown handler "x" (known: exif)']


# -- levels and sizes ---------------------------------------------------------------------


def test_independent_items_share_level_zero_and_carry_sizes() -> None:
    fs = tree("/w/a", "/w/b", "/w/c")
    result = check(
        fs,
        move("a", "x"),
        copy("b", "y"),
        op("checksum", "c"),
        op("checksum", "b"),
        op("transform", "b", command=["cat"]),
    )
    assert result.steps is not None
    assert list(result.steps.levels) == [0, 0, 0, 0, 1]
    assert [step.size for step in result.steps] == [100, 101, 102, 101, 101]


def test_two_reads_do_not_conflict_but_a_directory_write_orders_its_content() -> None:
    fs = tree("/w/d/a")
    result = check(fs, op("checksum", "d/a"), op("checksum", "d/a"), op("delete", "d"))
    assert result.steps is not None
    assert list(result.steps.levels) == [0, 0, 1]


# -- the file as a whole -------------------------------------------------------------------


def test_bom_crlf_blank_lines_and_line_numbers() -> None:
    data = (
        b'\xef\xbb\xbf{"op": "checksum", "path": "a"}\r\n\r\n{"op": "checksum", "path": "zz"}\r\n'
    )
    result = validate_plan(
        read_plan_lines(io.BytesIO(data)), cwd=b"/w", fs=tree("/w/a"), batch=1, known_handlers=()
    )
    assert result.total_lines == 2
    assert messages(result) == [
        "line 3: path /w/zz does not exist (and no earlier line creates it)"
    ]


def test_every_problem_is_reported_up_to_the_limit() -> None:
    items = [op("delete", f"missing{n}") for n in range(30)]
    result = check(tree(), *items, max_problems=10)
    assert result.problem_count == 30
    assert [p.line for p in result.problems] == list(range(1, 11))
    assert result.steps is None and not result.ok and result.total_lines == 30


def test_parse_problems_and_simulation_problems_together() -> None:
    result = check(tree("/w/a"), "{oops", move("a", "b"), op("checksum", "a"), '{"op": "fly"}')
    assert [p.line for p in result.problems] == [1, 3, 4]


def test_names_that_are_not_utf8_reach_the_steps_unchanged() -> None:
    raw = b"/w/\xff\xfe.bin"
    fs = tree()
    fs.add_file(raw)
    result = check(
        fs,
        move(raw.decode("utf-8", "surrogateescape"), {"b64": base64.b64encode(b"\xe9").decode()}),  # type: ignore[arg-type]
    )
    steps: list[Step] = list(result.steps or ())
    assert [(s.op, s.path, s.dest) for s in steps] == [(OpKind.MOVE, raw, b"/w/\xe9")]


def test_timeouts_reach_the_steps() -> None:
    result = check(tree("/w/a"), op("transform", "a", command=["cat"], timeout=1.5))
    assert [s.timeout for s in result.steps or ()] == [1.5]


def test_filesystem_errors_become_problems_of_the_line() -> None:
    class Denied(MemoryFileSystemView):
        def lstat(self, path: bytes) -> None:
            raise PermissionError(13, "Permission denied", path)

    assert messages(check(Denied(), op("delete", "a"))) == [
        "line 1: cannot inspect the filesystem: [Errno 13] Permission denied: b'/w'"
    ]
