"""submit: validation before anything runs, dry runs, and a large mixed plan end to end."""

from __future__ import annotations

import json
from pathlib import Path

from mixed_plan import files_and_dirs, mixed_plan
from running_daemon import RunningDaemon
from trees import make_files, manifest

from batchd.protocol.batch_messages import BatchState, ShowReply, ShowRequest, UploadState


def _plan(*items: dict[str, object]) -> bytes:
    return b"".join(json.dumps(item).encode() + b"\n" for item in items)


def test_bad_plan_lines_are_all_reported_with_line_numbers_and_nothing_runs(
    daemon: RunningDaemon, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    make_files(data, {"a": b"A", "b": b"B", "keep": b"K"})
    before = manifest(data)
    plan = (
        _plan({"op": "move", "src": "a", "dst": "moved-a"})  # 1: fine
        + b"{not json\n"  # 2
        + _plan(
            {"op": "frobnicate", "path": "a"},  # 3
            {"op": "move", "src": "missing", "dst": "x"},  # 4
            {"op": "copy", "src": "b", "dst": "keep"},  # 5: exists, no overwrite
            {"op": "move", "src": "b", "dst": "same"},  # 6
            {"op": "copy", "src": "keep", "dst": "same"},  # 7: same target as 6
            {"op": "delete", "path": "a", "colour": "red"},  # 8: unknown field
            {"op": "mkdir", "path": "no/such/parent/dir"},  # 9
        )
    )
    status = daemon.submit(plan, data)
    assert status.state is UploadState.INVALID
    lines = {p.line for p in status.problems}
    assert {2, 3, 4, 5, 7, 8, 9} <= lines, status.problems
    assert 1 not in lines
    assert status.batch is None
    assert manifest(data) == before


def test_dry_run_shows_steps_and_changes_nothing(daemon: RunningDaemon, tmp_path: Path) -> None:
    data = tmp_path / "data"
    make_files(data, {"a": b"A", "b": b"B"})
    before = manifest(data)
    plan = _plan({"op": "move", "src": "a", "dst": "b"}, {"op": "move", "src": "b", "dst": "a"})
    status = daemon.submit(plan, data, dry_run=True)
    assert status.state is UploadState.CHECKED, status.problems
    assert status.total == 3 and status.batch is None  # a swap goes through a temporary name
    assert len(status.preview) == 3
    assert manifest(data) == before


def test_five_thousand_item_mixed_plan_ends_equal_to_the_oracle(
    daemon: RunningDaemon, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    plan = mixed_plan(4_990)
    plan.create(data)
    assert len(plan.items) >= 5_000
    status = daemon.submit(_plan(*plan.items), data)
    assert status.state is UploadState.ACCEPTED, status.problems
    assert status.batch is not None
    assert status.total == len(plan.items) + 2  # the swap and the cycle each route one rename
    final = daemon.wait_batch(status.batch)
    assert final.state is BatchState.COMPLETED, final
    assert (final.completed, final.failed, final.progress) == (status.total, 0, 1.0)
    assert files_and_dirs(manifest(data)) == (plan.expected_files, plan.expected_dirs)
    show = daemon.request(ShowRequest(status.batch, limit=10_000), ShowReply)
    digests = {item.line: item.result for item in show.items if item.op == "checksum"}
    assert digests == plan.checksums


def test_finished_uploads_do_not_hold_upload_slots(daemon: RunningDaemon, tmp_path: Path) -> None:
    data = tmp_path / "data"
    make_files(data, {"f": b"x"})
    for _ in range(20):  # more than the 16 uploads that may be in progress at once
        status = daemon.submit(_plan({"op": "checksum", "path": "f"}), data)
        assert status.state is UploadState.ACCEPTED
