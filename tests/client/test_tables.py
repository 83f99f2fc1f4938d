"""Formatting of the batch commands (pure): progress lines, tables, colour decisions, the
upload meter and the pacing of plain progress lines."""

from __future__ import annotations

import io
import json

import pytest
from fake_router import progress_of

from batchd.client.bars import PlainLines, UploadMeter, display_for
from batchd.client.output import Output
from batchd.client.render import json_line
from batchd.client.tables import (
    batches_table,
    display_path,
    problem_lines,
    progress_line,
    short_duration,
    table,
)
from batchd.protocol.batch_messages import BatchState, Problem, UploadState, UploadStatusReply

RUNNING = progress_of(3, BatchState.RUNNING, 500, 120, rate=50.1, eta=7.6)


class Tty(io.StringIO):
    """A text stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def test_progress_line_matches_the_documented_shape() -> None:
    assert progress_line(RUNNING) == "batch 3 running 120/500 (24%) 0 failed rate 50.1/s eta 7.6s"
    unknown = progress_of(3, BatchState.PENDING, 500, 0)
    assert progress_line(unknown).endswith("eta ?")


def test_percent_is_rounded_down_until_everything_ended() -> None:
    almost = progress_of(1, BatchState.RUNNING, 1000, 999)
    assert "(99%)" in progress_line(almost)


def test_failures_are_red_only_with_colour() -> None:
    failing = progress_of(3, BatchState.FAILED, 10, 8, 2)
    assert "\x1b[31m2 failed\x1b[0m" in progress_line(failing, colour=True)
    assert "\x1b[" not in progress_line(failing, colour=False)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "?"), (7.64, "7.6s"), (185, "3m05s"), (7385, "2h03m"), (4 * 86400 + 7385, "4d02h")],
)
def test_short_duration(seconds: float | None, text: str) -> None:
    assert short_duration(seconds) == text


def test_colour_does_not_break_alignment() -> None:
    plain = batches_table([RUNNING, progress_of(10, BatchState.FAILED, 5, 4, 1)], colour=False)
    coloured = batches_table([RUNNING, progress_of(10, BatchState.FAILED, 5, 4, 1)], colour=True)
    strip = coloured.replace("\x1b[0m", "")
    for code in ("31", "32", "36"):
        strip = strip.replace(f"\x1b[{code}m", "")
    assert strip == plain
    assert table(["a", "bb"], [["xxx", "y"]], colour=False) == "A    BB\nxxx  y"


def test_paths_for_people_escape_what_a_terminal_would_garble() -> None:
    assert display_path(b"caf\xc3\xa9") == "café"
    assert display_path(b"a\xffb\nc", b"d") == "a\\xffb\\nc → d"


def test_problem_lines_say_how_many_were_left_out() -> None:
    reply = UploadStatusReply(
        "u", UploadState.INVALID, None, 9, 1001, (Problem(3, "bad\nthing"),), ()
    )
    assert problem_lines(reply) == ["line 3: bad thing", "... and 1000 more problems"]


def test_json_line_escapes_undecodable_names() -> None:
    line = json_line({"path": "caf\udce9"})
    assert line == '{"path": "caf\\udce9"}'
    assert json.loads(line)["path"] == "caf\udce9"


def test_colour_needs_a_terminal_and_no_no_color() -> None:
    assert Output(False, Tty(), Tty(), {}).colour
    assert not Output(False, Tty(), Tty(), {"NO_COLOR": "1"}).colour
    assert not Output(False, io.StringIO(), Tty(), {}).colour
    assert Output(False, io.StringIO(), Tty(), {}).stderr_colour


def test_display_kind_follows_the_output() -> None:
    assert type(display_for(Output(True, Tty(), Tty(), {}), 1.0)).__name__ == "JsonLines"
    assert type(display_for(Output(False, io.StringIO(), Tty(), {}), 1.0)).__name__ == "PlainLines"
    assert type(display_for(Output(False, Tty(), Tty(), {}), 1.0)).__name__ == "RichBars"


def test_plain_lines_on_change_and_per_interval_and_once_at_the_end() -> None:
    now = [0.0]
    stdout = io.StringIO()
    lines = PlainLines(Output(False, stdout, io.StringIO(), {}), 2.0, clock=lambda: now[0])
    for step, (state, done) in enumerate(
        [
            (BatchState.PENDING, 0),
            (BatchState.RUNNING, 0),  # state change: printed
            (BatchState.RUNNING, 10),  # too soon
            (BatchState.RUNNING, 20),  # too soon
            (BatchState.RUNNING, 30),  # 2 s later: printed
            (BatchState.COMPLETED, 40),  # end: printed
            (BatchState.COMPLETED, 40),  # never again
        ]
    ):
        now[0] = [0.0, 0.1, 0.5, 1.0, 2.2, 2.3, 5.0][step]
        lines.update(progress_of(1, state, 40, done))
    printed = stdout.getvalue().splitlines()
    assert [line.split()[2] for line in printed] == ["pending", "running", "running", "completed"]
    assert printed[2].startswith("batch 1 running 30/40")


def test_upload_meter_shows_only_on_a_terminal_after_a_moment() -> None:
    now = [0.0]
    stderr = Tty()
    meter = UploadMeter(Output(False, io.StringIO(), stderr, {}), clock=lambda: now[0])
    meter(1024, 4096)
    assert stderr.getvalue() == ""  # quick uploads stay quiet
    now[0] = 1.0
    meter(2048, 4096)
    meter(3072, -1)
    meter(4096, 4096)
    meter.clear()
    assert stderr.getvalue().split("\r\x1b[K") == [
        "",
        "uploading plan: 2.0 KiB of 4.0 KiB (50%)",
        "uploading plan: 3.0 KiB",
        "validating plan (4.0 KiB)...",
        "",
    ]
    piped = io.StringIO()
    quiet = UploadMeter(Output(False, io.StringIO(), piped, {}), clock=lambda: now[0] + 9)
    quiet(1, 2)
    assert piped.getvalue() == ""
