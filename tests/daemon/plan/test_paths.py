"""Path resolution: absolute, normalized, lexical '..', limits with their numbers."""

from __future__ import annotations

import pytest

from batchd.daemon.plan.paths import (
    NAME_MAX,
    PATH_MAX,
    PathError,
    is_inside,
    parent_of,
    resolve_path,
    shown,
    temp_path,
)


def resolve(raw: bytes, *, target: bool = True) -> bytes:
    return resolve_path(raw, b"/home/u", names_target=target)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"a.jpg", b"/home/u/a.jpg"),
        (b"/abs/x", b"/abs/x"),
        (b"./a//b/./c", b"/home/u/a/b/c"),
        (b"../v/a", b"/home/v/a"),
        (b"/a/link/../b", b"/a/b"),  # lexical: the link is not looked at
        (b"/../../a", b"/a"),
        (b"/a/.hidden", b"/a/.hidden"),
        (b"/a/..x", b"/a/..x"),
    ],
)
def test_paths_are_made_absolute_and_normal(raw: bytes, expected: bytes) -> None:
    assert resolve(raw) == expected


def test_a_source_may_end_in_dot_dot_but_a_target_may_not() -> None:
    assert resolve(b"a/b/..", target=False) == b"/home/u/a"
    with pytest.raises(PathError, match=r"ends with '\.\.'"):
        resolve(b"a/b/..")
    with pytest.raises(PathError, match=r"ends with '\.'"):
        resolve(b"a/.")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "is empty"),
        (b"a\0b", "NUL"),
        (b"dir/", "final name is empty"),
        (b"/", "root directory"),
        (b"//", "root directory"),
        (b"/a/..", "root directory"),
    ],
)
def test_unusable_paths(raw: bytes, message: str) -> None:
    with pytest.raises(PathError, match=message):
        resolve(raw, target=False)


def test_name_max_is_in_the_message() -> None:
    assert resolve(b"n" * NAME_MAX) == b"/home/u/" + b"n" * NAME_MAX
    with pytest.raises(PathError, match=r"256 bytes .*NAME_MAX\) is 255 bytes"):
        resolve(b"n" * (NAME_MAX + 1))


def test_path_max_is_in_the_message() -> None:
    longest = b"/" + b"/".join([b"d" * 200] * 20) + b"/" + b"f" * (PATH_MAX - 1 - 20 * 201 - 1)
    assert len(longest) == PATH_MAX - 1
    assert resolve(longest) == longest
    with pytest.raises(PathError, match=r"4096 bytes long; the limit \(PATH_MAX\) is 4096"):
        resolve(longest + b"x")


def test_helpers() -> None:
    assert parent_of(b"/a/b") == b"/a"
    assert parent_of(b"/a") == b"/"
    assert is_inside(b"/d/sub/d", b"/d")
    assert not is_inside(b"/dd", b"/d")
    assert not is_inside(b"/d", b"/d")
    assert temp_path(b"/w/x", 12, 7) == b"/w/.batchd-park-12-7"
    assert shown(b"/a/\xff") == "/a/\\xff"


def test_a_parking_name_is_never_an_op_temp() -> None:
    # Regression: both were ".batchd-tmp-<batch>-<n>", so step n's temp was the parking name
    # of plan line n, and an op discarding its stale temp deleted the parked user file.
    from batchd.daemon.ops.names import is_temp_name, temp_name

    parked = temp_path(b"/w/x", 5, 1).rpartition(b"/")[2]
    assert not is_temp_name(parked)
    assert parked != temp_name(5, 1)


def _resolve_by_parts(raw: bytes, cwd: bytes) -> bytes:
    """The slow rule spelled out: join, then drop empty and '.' names and apply '..'."""
    parts: list[bytes] = []
    for part in (raw if raw.startswith(b"/") else cwd + b"/" + raw).split(b"/"):
        if part == b"..":
            if parts:
                parts.pop()
        elif part and part != b".":
            parts.append(part)
    return b"/" + b"/".join(parts)


@pytest.mark.parametrize(
    "cwd", [b"/home/u", b"", b"/home//u", b"/home/./u", b"/h/../u", b"/x" * 120]
)
@pytest.mark.parametrize(
    "raw",
    [
        b"a", b"a/b", b"/a/b", b"...", b"a/.b", b"a/..b", b"a/.../b", b".a", b"a/b.",
        b"a//b", b"./a", b"a/./b", b"a/../b", b"//a", b"../a", b"n" * 200, b"/" + b"n" * 254,
        b"/" + b"n" * 256, b"d/" + b"n" * 250,
    ],
)  # fmt: skip
def test_the_quick_path_agrees_with_normalizing(raw: bytes, cwd: bytes) -> None:
    # Already-normal paths under NAME_MAX skip the checks; results must not depend on it.
    try:
        got = resolve_path(raw, cwd, names_target=True)
    except PathError as error:
        assert any(len(part) > NAME_MAX for part in (cwd + b"/" + raw).split(b"/")), error
        return
    assert got == _resolve_by_parts(raw, cwd)
