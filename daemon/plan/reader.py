"""Reading a plan file: JSON Lines with an optional UTF-8 BOM, CRLF line ends, blank lines."""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Final

UTF8_BOM: Final = b"\xef\xbb\xbf"


def read_plan_lines(data: IO[bytes]) -> Iterator[tuple[int, bytes]]:
    """Yield ``(line_number, line)`` for every non-blank line of a plan file.

    Line numbers count physical lines from 1, blank lines included, so that a problem names
    the line an editor shows. A UTF-8 BOM at the start and a ``\\r`` before each ``\\n`` are
    dropped; lines holding only spaces and tabs are skipped.
    """
    for number, raw in enumerate(data, start=1):
        line = raw[3:] if number == 1 and raw.startswith(UTF8_BOM) else raw
        if line.endswith(b"\n"):
            line = line[:-2] if line.endswith(b"\r\n") else line[:-1]
        elif line.endswith(b"\r"):
            line = line[:-1]
        if line.strip(b" \t"):
            yield number, line
