"""names: deterministic temp names and recognising them."""

from __future__ import annotations

from batchd.daemon.ops.names import is_temp_name, parse_temp_name, temp_beside, temp_name


def test_temp_names_round_trip() -> None:
    assert temp_name(3, 14) == b".batchd-tmp-3-14"
    assert temp_name(3, 14, 1) == b".batchd-tmp-3-14.1"
    assert parse_temp_name(temp_name(3, 14, 2)) == (3, 14, 2)
    assert temp_beside(b"/a/b/c.jpg", 1, 2) == b"/a/b/.batchd-tmp-1-2"


def test_other_names_are_not_temps() -> None:
    for name in [b"photo.jpg", b".batchd-tmp-", b".batchd-tmp-1-x", b"x.batchd-tmp-1-2"]:
        assert not is_temp_name(name)
