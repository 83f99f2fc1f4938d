"""The JSON Lines reader: BOM, CRLF, blank lines, physical line numbers."""

from __future__ import annotations

import io

from batchd.daemon.plan import read_plan_lines


def lines_of(data: bytes) -> list[tuple[int, bytes]]:
    return list(read_plan_lines(io.BytesIO(data)))


def test_plain_lines_are_numbered_from_one() -> None:
    assert lines_of(b'{"a": 1}\n{"b": 2}\n') == [(1, b'{"a": 1}'), (2, b'{"b": 2}')]


def test_bom_crlf_and_blank_lines_are_accepted_and_counted() -> None:
    data = b'\xef\xbb\xbf{"a": 1}\r\n\r\n   \n\t\r\n{"b": 2}\r\n\r\n\n'
    assert lines_of(data) == [(1, b'{"a": 1}'), (5, b'{"b": 2}')]


def test_last_line_without_newline_and_lone_cr() -> None:
    assert lines_of(b'{"a": 1}\n{"b": 2}\r') == [(1, b'{"a": 1}'), (2, b'{"b": 2}')]


def test_bom_only_counts_on_the_first_line() -> None:
    assert lines_of(b"x\n\xef\xbb\xbfy\n") == [(1, b"x"), (2, b"\xef\xbb\xbfy")]


def test_empty_file_has_no_lines() -> None:
    assert lines_of(b"") == []
    assert lines_of(b"\xef\xbb\xbf\n\n") == []
