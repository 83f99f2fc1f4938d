"""submit: validation before anything runs, dry runs, and a large mixed plan end to end."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from running_daemon import RunningDaemon
from trees import Entry, file_entry, make_files, manifest

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


def _mixed_tree(root: Path, count: int) -> dict[str, bytes]:
    files = {
        f"src/f{i:05d}.txt": f"file {i} hello world\n".encode() * (1 + i % 5) for i in range(count)
    }
    files.update({"swap/a": b"content of a", "swap/b": b"content of b"})
    files.update({"cycle/x": b"X", "cycle/y": b"Y", "cycle/z": b"Z"})
    make_files(root, files)
    return files


def test_five_thousand_item_mixed_plan_ends_equal_to_the_oracle(
    daemon: RunningDaemon, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    files = _mixed_tree(data, 4_990)
    items: list[dict[str, object]] = [
        {"op": "mkdir", "path": "out"},
        {"op": "mkdir", "path": "copies"},
    ]
    items += [{"op": "mkdir", "path": f"out/d{k}"} for k in range(10)]
    expected: dict[str, Entry] = {}
    names = sorted(n for n in files if n.startswith("src/"))
    checksums: dict[int, str] = {}
    for i, name in enumerate(names):
        content = files[name]
        if i < 1_900:
            items.append({"op": "move", "src": name, "dst": f"out/d{i % 10}/{Path(name).name}"})
            expected[f"out/d{i % 10}/{Path(name).name}"] = file_entry(content)
        elif i < 2_900:
            items.append({"op": "copy", "src": name, "dst": f"copies/{Path(name).name}"})
            expected[name] = expected[f"copies/{Path(name).name}"] = file_entry(content)
        elif i < 3_400:
            items.append({"op": "delete", "path": name})
        elif i < 3_900:
            items.append({"op": "transform", "path": name, "command": ["tr", "a-z", "A-Z"]})
            expected[name] = file_entry(content.upper())
        else:
            checksums[len(items) + 1] = hashlib.sha256(content).hexdigest()
            items.append({"op": "checksum", "path": name})
            expected[name] = file_entry(content)
    items += [
        {"op": "move", "src": "swap/a", "dst": "swap/b"},
        {"op": "move", "src": "swap/b", "dst": "swap/a"},
        {"op": "move", "src": "cycle/x", "dst": "cycle/y"},
        {"op": "move", "src": "cycle/y", "dst": "cycle/z"},
        {"op": "move", "src": "cycle/z", "dst": "cycle/x"},
    ]
    expected.update(
        {
            "swap/a": file_entry(b"content of b"),
            "swap/b": file_entry(b"content of a"),
            "cycle/y": file_entry(b"X"),
            "cycle/z": file_entry(b"Y"),
            "cycle/x": file_entry(b"Z"),
        }
    )
    for directory in ["src", "swap", "cycle", "out", "copies"] + [f"out/d{k}" for k in range(10)]:
        expected[directory] = Entry("dir", mode=0o755)
    assert len(items) >= 5_000

    status = daemon.submit(_plan(*items), data)
    assert status.state is UploadState.ACCEPTED, status.problems
    assert status.batch is not None
    assert status.total == len(items) + 2  # the swap and the cycle each route one rename
    final = daemon.wait_batch(status.batch)
    assert final.state is BatchState.COMPLETED, final
    assert (final.completed, final.failed, final.progress) == (status.total, 0, 1.0)

    actual = manifest(data)
    assert {k: v for k, v in actual.items() if v.kind == "file"} == {
        k: v for k, v in expected.items() if v.kind == "file"
    }
    assert {k for k, v in actual.items() if v.kind == "dir"} == {
        k for k, v in expected.items() if v.kind == "dir"
    }

    show = daemon.request(ShowRequest(status.batch, limit=10_000), ShowReply)
    digests = {item.line: item.result for item in show.items if item.op == "checksum"}
    assert digests == checksums


def test_finished_uploads_do_not_hold_upload_slots(daemon: RunningDaemon, tmp_path: Path) -> None:
    data = tmp_path / "data"
    make_files(data, {"f": b"x"})
    for _ in range(20):  # more than the 16 uploads that may be in progress at once
        status = daemon.submit(_plan({"op": "checksum", "path": "f"}), data)
        assert status.state is UploadState.ACCEPTED
