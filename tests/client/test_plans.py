"""Plan builders: arguments in, contract-format JSON Lines out (pure functions)."""

from __future__ import annotations

import base64
import json
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from batchd.client.plans import (
    PlanArgumentError,
    checksum_items,
    copy_items,
    delete_items,
    mkdir_items,
    move_items,
    path_value,
    plan_bytes,
    rename_items,
    transform_items,
)


def lines(data: bytes) -> list[dict[str, object]]:
    assert data.endswith(b"\n")
    return [json.loads(line) for line in data.decode("utf-8").splitlines()]


def test_move_puts_each_source_into_the_directory_keeping_paths_as_given() -> None:
    items = move_items(["a.jpg", "/abs/b.jpg", "../up/c", "dir/"], "sorted")
    assert lines(plan_bytes(items)) == [
        {"op": "move", "src": "a.jpg", "dst": "sorted/a.jpg"},
        {"op": "move", "src": "/abs/b.jpg", "dst": "sorted/b.jpg"},
        {"op": "move", "src": "../up/c", "dst": "sorted/c"},
        {"op": "move", "src": "dir/", "dst": "sorted/dir"},
    ]


def test_copy_with_overwrite_and_a_directory_with_trailing_slash() -> None:
    assert copy_items(["x/a.txt"], "/backup/", overwrite=True) == [
        {"op": "copy", "src": "x/a.txt", "dst": "/backup/a.txt", "overwrite": True}
    ]


@pytest.mark.parametrize("source", [".", "..", "/", "x/.."])
def test_move_refuses_a_source_without_a_name(source: str) -> None:
    with pytest.raises(PlanArgumentError, match="no name"):
        move_items([source], "d")


def test_builders_refuse_empty_arguments() -> None:
    with pytest.raises(PlanArgumentError, match="no paths"):
        delete_items([])
    with pytest.raises(PlanArgumentError, match="empty path"):
        mkdir_items([""])
    with pytest.raises(PlanArgumentError, match="empty path"):
        move_items(["a"], "")


def test_rename_applies_re_sub_to_the_final_name_only() -> None:
    items = rename_items(
        r"\.JPG$",
        ".jpg",
        ["photos.JPG/IMG_1.JPG", "IMG_2.JPG", "./notes.txt", "deep/dir/x.JPG"],
    )
    assert items == [
        {"op": "move", "src": "photos.JPG/IMG_1.JPG", "dst": "photos.JPG/IMG_1.jpg"},
        {"op": "move", "src": "IMG_2.JPG", "dst": "IMG_2.jpg"},
        {"op": "move", "src": "deep/dir/x.JPG", "dst": "deep/dir/x.jpg"},
    ]


def test_rename_with_groups_replaces_every_match() -> None:
    assert rename_items(r"(\d+)", r"<\1>", ["a1b22"]) == [
        {"op": "move", "src": "a1b22", "dst": "a<1>b<22>"}
    ]


def test_rename_emits_chains_as_plain_moves_in_argument_order() -> None:
    # x1 -> y1 while y1 stays: ordering chains and swaps is the daemon's job.
    items = rename_items(r"^x(\d)$", r"y\1", ["x1", "y1", "x2"])
    assert [(i["src"], i["dst"]) for i in items] == [("x1", "y1"), ("x2", "y2")]


def test_rename_leaves_out_unchanged_names() -> None:
    assert rename_items("a+", "a", ["aaa", "b"]) == [{"op": "move", "src": "aaa", "dst": "a"}]
    assert rename_items("x", "x", ["x"]) == []


@pytest.mark.parametrize(
    ("pattern", "replacement", "message"),
    [
        ("(", "x", "bad regular expression"),
        ("a", r"\9", "bad replacement"),
        ("a", "", "must be non-empty"),
        ("a", "x/y", "contain neither"),
        ("a", "..", "not '.' or '..'"),
    ],
)
def test_rename_refuses_bad_patterns_and_names(
    pattern: str, replacement: str, message: str
) -> None:
    with pytest.raises(PlanArgumentError, match=message):
        rename_items(pattern, replacement, ["a"])


def test_delete_mkdir_checksum_items() -> None:
    assert lines(plan_bytes(delete_items(["old.log"]))) == [{"op": "delete", "path": "old.log"}]
    assert mkdir_items(["a", "a/b"]) == [
        {"op": "mkdir", "path": "a"},
        {"op": "mkdir", "path": "a/b"},
    ]
    assert checksum_items(["disk.iso"]) == [
        {"op": "checksum", "path": "disk.iso", "algorithm": "sha256"}
    ]
    assert checksum_items(["d"], "blake2b")[0]["algorithm"] == "blake2b"


def test_transform_splits_the_command_like_a_shell_without_running_one() -> None:
    items = transform_items("sed 's/foo bar/baz/' --in \"a b\" ; rm -rf /", ["notes.txt"])
    assert items == [
        {
            "op": "transform",
            "path": "notes.txt",
            "command": ["sed", "s/foo bar/baz/", "--in", "a b", ";", "rm", "-rf", "/"],
        }
    ]


@pytest.mark.parametrize("command", ["", "   ", "'unclosed"])
def test_transform_refuses_an_empty_or_unsplittable_command(command: str) -> None:
    with pytest.raises(PlanArgumentError):
        transform_items(command, ["a"])


def test_non_utf8_names_travel_as_b64_and_utf8_names_as_text() -> None:
    raw = b"caf\xe9.txt"  # Latin-1, not UTF-8
    name = os.fsdecode(raw)
    assert path_value("café.txt") == "café.txt"
    assert path_value(name) == {"b64": base64.b64encode(raw).decode()}
    [item] = lines(plan_bytes(move_items([name], "dir")))
    assert item["src"] == {"b64": base64.b64encode(raw).decode()}
    assert item["dst"] == {"b64": base64.b64encode(b"dir/" + raw).decode()}
    renamed = rename_items(r"\.txt$", ".md", [name])
    assert renamed[0]["dst"] == {"b64": base64.b64encode(b"caf\xe9.md").decode()}


def test_plan_bytes_is_utf8_json_lines_even_for_odd_commands() -> None:
    data = plan_bytes(
        [{"op": "transform", "path": "é", "command": ["tr", os.fsdecode(b"\xff"), "x"]}]
    )
    assert data.count(b"\n") == 1
    data.decode("utf-8")  # valid UTF-8 throughout
    assert json.loads(data)["command"][1] == "\udcff"


names = st.binary(min_size=1, max_size=40).filter(lambda b: b"/" not in b and b"\0" not in b)


@given(names)
def test_any_file_name_round_trips_through_the_plan(raw: bytes) -> None:
    [item] = lines(plan_bytes(delete_items([os.fsdecode(raw)])))
    value = item["path"]
    decoded = base64.b64decode(value["b64"]) if isinstance(value, dict) else value.encode()
    assert decoded == raw
