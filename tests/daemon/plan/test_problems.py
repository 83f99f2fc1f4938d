"""The problem sink counts everything and keeps the lowest lines."""

from __future__ import annotations

from batchd.daemon.plan.problems import Problem, ProblemSink


def test_keeps_the_lowest_lines_sorted_and_counts_all() -> None:
    sink = ProblemSink(3)
    for line in (9, 2, 7, 1, 8, 2):
        sink.add(line, f"p{line}")
    assert sink.count == 6
    assert sink.sorted() == (Problem(1, "p1"), Problem(2, "p2"), Problem(2, "p2"))


def test_problems_of_one_line_keep_their_order() -> None:
    sink = ProblemSink(10)
    sink.add(4, "first")
    sink.add(4, "second")
    assert [p.message for p in sink.sorted()] == ["first", "second"]
    assert str(sink.sorted()[0]) == "line 4: first"


def test_zero_limit_only_counts() -> None:
    sink = ProblemSink(0)
    sink.add(1, "x")
    assert sink.count == 1
    assert sink.sorted() == ()
