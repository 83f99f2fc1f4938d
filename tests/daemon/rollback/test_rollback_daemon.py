"""Rollback end to end: a real daemon, real files, the plan's oracle and the original tree."""

from __future__ import annotations

import json
import os
from pathlib import Path

from mixed_plan import mixed_plan
from running_daemon import RunningDaemon, json_of
from sample_plans import plan_bytes
from trees import manifest

from batchd.protocol.batch_messages import BatchState, UploadState
from batchd.protocol.rollback_messages import RollbackReply, RollbackRequest


def _run(daemon: RunningDaemon, root: Path, plan: bytes) -> int:
    status = daemon.submit(plan, root)
    assert status.state is UploadState.ACCEPTED, status.problems
    assert status.batch is not None
    daemon.wait_batch(status.batch)
    return status.batch


def _rollback(daemon: RunningDaemon, *batches: int, **kw: object) -> RollbackReply:
    return daemon.request(RollbackRequest(batches=batches, **kw), RollbackReply)  # type: ignore[arg-type]


def test_a_mixed_batch_rolls_back_to_the_original_tree(
    daemon: RunningDaemon, tmp_path: Path
) -> None:
    root = tmp_path / "data"
    plan = mixed_plan(60, seed=3)
    plan.create(root)
    before = manifest(root, with_mtime=True)
    batch = _run(daemon, root, b"".join(json.dumps(i).encode() + b"\n" for i in plan.items))
    assert daemon.progress(batch).state is BatchState.COMPLETED
    # The dry run judges each step by the tree the steps before it leave: swaps, cycles and
    # the directories the batch made are no conflicts.
    dry = _rollback(daemon, batch, dry_run=True)
    assert dry.rollback is None and dry.conflicts == 0, [a for a in dry.preview if a.conflict]
    reply = _rollback(daemon, batch)
    assert reply.actions == dry.actions
    assert reply.rollback is not None and reply.batches == (batch,)
    done = daemon.wait_batch(reply.rollback)
    assert done.state is BatchState.COMPLETED, daemon.batchctl("show", str(reply.rollback)).stdout
    assert manifest(root, with_mtime=True) == before
    assert daemon.progress(batch).state is BatchState.ROLLED_BACK
    again = _rollback(daemon, batch)
    assert again.rollback is None and again.already == (batch,)


def _files(root: Path, files: dict[str, bytes]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


def test_an_edit_with_the_same_size_and_mtime_is_a_conflict_left_untouched_then_forced(
    daemon: RunningDaemon, tmp_path: Path
) -> None:
    root = tmp_path / "data"
    _files(root, {"a.txt": b"hello world\n", "b.txt": b"bee\n", "c.txt": b"sea\n"})
    original = manifest(root, with_mtime=True)
    batch = _run(
        daemon,
        root,
        plan_bytes(
            {"op": "transform", "path": "a.txt", "command": ["tr", "a-z", "A-Z"]},
            {"op": "move", "src": "b.txt", "dst": "b2.txt"},
            {"op": "delete", "path": "c.txt"},
        ),
    )
    edited = root / "a.txt"
    info = edited.stat()
    edited.write_bytes(b"HELLO WORLX\n")  # same size
    os.utime(edited, ns=(info.st_atime_ns, info.st_mtime_ns))  # same mtime
    (root / "c.txt").write_bytes(b"a new c\n")  # the deleted path is re-created
    dry = _rollback(daemon, batch, dry_run=True)
    assert dry.rollback is None and dry.actions == 3 and dry.conflicts == 2
    reasons = {Path(os.fsdecode(a.path)).name: a.conflict for a in dry.preview}
    assert "different content" in reasons["a.txt"] and "re-created" in reasons["c.txt"]
    assert reasons["b2.txt"] == ""
    reply = _rollback(daemon, batch)
    assert reply.rollback is not None
    done = daemon.wait_batch(reply.rollback)
    assert done.state is BatchState.FAILED and done.failed == 2 and done.conflicts == 2
    assert edited.read_bytes() == b"HELLO WORLX\n"
    assert (root / "c.txt").read_bytes() == b"a new c\n"
    assert (root / "b.txt").read_bytes() == b"bee\n" and not (root / "b2.txt").exists()
    assert daemon.progress(batch).state is BatchState.PARTIALLY_ROLLED_BACK

    forced = _rollback(daemon, batch, force=True)
    assert forced.rollback is not None and forced.actions == 2
    assert daemon.wait_batch(forced.rollback).state is BatchState.COMPLETED
    assert manifest(root, with_mtime=True) == original
    assert daemon.progress(batch).state is BatchState.ROLLED_BACK

    # The forced rollback is undoable: rolling it back brings the edited versions back.
    redo = _rollback(daemon, forced.rollback)
    assert redo.rollback is not None
    assert daemon.wait_batch(redo.rollback).state is BatchState.COMPLETED
    assert edited.read_bytes() == b"HELLO WORLX\n"
    assert (root / "c.txt").read_bytes() == b"a new c\n"


def test_a_file_deleted_after_the_batch_is_a_conflict_and_nothing_else_moves(
    daemon: RunningDaemon, tmp_path: Path
) -> None:
    root = tmp_path / "data"
    _files(root, {"a.txt": b"a\n", "b.txt": b"b\n"})
    batch = _run(
        daemon,
        root,
        plan_bytes(
            {"op": "move", "src": "a.txt", "dst": "a2.txt"},
            {"op": "copy", "src": "b.txt", "dst": "b2.txt"},
        ),
    )
    (root / "a2.txt").unlink()  # the user deleted the moved file
    (root / "b2.txt").unlink()  # and the copy
    dry = _rollback(daemon, batch, dry_run=True)
    assert dry.conflicts == 2 and all("gone" in a.conflict for a in dry.preview), dry
    reply = _rollback(daemon, batch)
    assert reply.rollback is not None
    done = daemon.wait_batch(reply.rollback)
    assert done.state is BatchState.FAILED and done.conflicts == 2
    assert sorted(p.name for p in root.iterdir()) == ["b.txt"]  # nothing was invented


def test_selected_items_and_paths_roll_back_alone(daemon: RunningDaemon, tmp_path: Path) -> None:
    root = tmp_path / "data"
    _files(root, {f"f{i}.txt": f"file {i}\n".encode() for i in range(6)})
    original = manifest(root, with_mtime=True)
    batch = _run(
        daemon,
        root,
        plan_bytes(*({"op": "move", "src": f"f{i}.txt", "dst": f"g{i}.txt"} for i in range(6))),
    )
    by_items = _rollback(daemon, batch, items="2,4-5")
    assert by_items.rollback is not None
    daemon.wait_batch(by_items.rollback)
    names = sorted(p.name for p in root.iterdir())
    assert names == ["f1.txt", "f3.txt", "f4.txt", "g0.txt", "g2.txt", "g5.txt"]
    assert daemon.progress(batch).state is BatchState.PARTIALLY_ROLLED_BACK
    assert daemon.progress(batch).rolled_back == 3
    by_paths = _rollback(daemon, batch, paths=(str(root / "g[02].txt"),))
    assert by_paths.rollback is not None and by_paths.actions == 2
    daemon.wait_batch(by_paths.rollback)
    assert sorted(p.name for p in root.iterdir()) == [
        "f0.txt",
        "f1.txt",
        "f2.txt",
        "f3.txt",
        "f4.txt",
        "g5.txt",
    ]
    rest = _rollback(daemon, batch)
    assert rest.rollback is not None and rest.actions == 1
    daemon.wait_batch(rest.rollback)
    assert manifest(root, with_mtime=True) == original
    assert daemon.progress(batch).state is BatchState.ROLLED_BACK


def test_a_newer_batch_on_the_same_paths_blocks_then_both_roll_back_newest_first(
    daemon: RunningDaemon, tmp_path: Path
) -> None:
    root = tmp_path / "data"
    _files(root, {"a.txt": b"a\n", "other.txt": b"o\n"})
    original = manifest(root, with_mtime=True)
    first = _run(daemon, root, plan_bytes({"op": "copy", "src": "a.txt", "dst": "b.txt"}))
    second = _run(daemon, root, plan_bytes({"op": "move", "src": "b.txt", "dst": "c.txt"}))
    unrelated = _run(daemon, root, plan_bytes({"op": "move", "src": "other.txt", "dst": "o2"}))
    blocked = daemon.batchctl("--json", "rollback", str(first))
    assert blocked.returncode == 1, blocked
    assert f"batchctl rollback {second} {first}" in blocked.stdout + blocked.stderr
    both = _rollback(daemon, first, second)
    assert both.batches == (second, first) and both.rollback is not None
    assert daemon.wait_batch(both.rollback).state is BatchState.COMPLETED
    assert sorted(p.name for p in root.iterdir()) == ["a.txt", "o2"]
    assert daemon.progress(first).state is BatchState.ROLLED_BACK
    assert daemon.progress(second).state is BatchState.ROLLED_BACK
    last = _rollback(daemon, unrelated)
    assert last.rollback is not None
    daemon.wait_batch(last.rollback)
    assert manifest(root, with_mtime=True) == original


def test_rollback_of_a_running_batch_stops_it_first(daemon: RunningDaemon, tmp_path: Path) -> None:
    root = tmp_path / "data"
    _files(root, {f"f{i}": b"x" for i in range(30)})
    original = manifest(root, with_mtime=True)
    plan = plan_bytes(
        *(
            {"op": "transform", "path": f"f{i}", "command": ["sh", "-c", "sleep 0.2; cat"]}
            for i in range(30)
        )
    )
    status = daemon.submit(plan, root)
    assert status.batch is not None
    result = daemon.batchctl("rollback", "--wait", str(status.batch), timeout=120)
    assert result.returncode == 0, result
    assert daemon.progress(status.batch).state in (
        BatchState.ROLLED_BACK,
        BatchState.CANCELLED,  # cancelled before any item completed: nothing to undo
    )
    assert manifest(root, with_mtime=True) == original


def test_history_purge_and_a_rollback_after_the_purge(
    daemon: RunningDaemon, tmp_path: Path
) -> None:
    root = tmp_path / "data"
    _files(root, {"a": b"a"})
    batch = _run(daemon, root, plan_bytes({"op": "delete", "path": "a"}))
    assert (daemon.state_dir / "undo" / str(batch)).is_dir()
    purged = json_of(daemon.batchctl("--json", "purge", str(batch)))
    assert purged["purged"] == [batch] and purged["freed_bytes"] == 1
    assert not (daemon.state_dir / "undo" / str(batch)).exists()
    refused = daemon.batchctl("rollback", str(batch))
    assert refused.returncode == 1 and "purged" in refused.stdout + refused.stderr
    events = json_of(daemon.batchctl("--json", "history"))["events"]
    kinds = [(e["event"], e["batch"]) for e in events]
    assert kinds == [("submitted", batch), ("ended", batch), ("purged", batch)]
    assert f"by uid {os.getuid()} (pid " in events[0]["detail"]  # who submitted it
    # History survives a restart (the times are journaled and checkpointed).
    assert daemon.stop() == 0
    daemon.start()
    again = json_of(daemon.batchctl("--json", "history"))["events"]
    assert [(e["event"], e["batch"]) for e in again] == kinds
    assert again[0]["detail"] == events[0]["detail"]  # journaled, so it survives


def test_rollback_disabled_says_so(daemon_factory: type[RunningDaemon], tmp_path: Path) -> None:
    config = tmp_path / "batchd.toml"
    config.write_text("enable_rollback = false\n")
    daemon = daemon_factory(args=("--config", str(config)))
    daemon.start()
    root = tmp_path / "data"
    _files(root, {"a": b"a"})
    batch = _run(daemon, root, plan_bytes({"op": "delete", "path": "a"}))
    result = daemon.batchctl("rollback", str(batch))
    assert result.returncode == 1
    assert "enable_rollback = false" in result.stdout + result.stderr
    assert not (daemon.state_dir / "undo" / str(batch)).exists()
