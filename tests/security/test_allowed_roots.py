"""Allowed roots end to end: plans outside them are refused with a reason, nothing touched."""

from __future__ import annotations

import json
import os
from pathlib import Path

from running_daemon import RunningDaemon

from batchd.protocol.batch_messages import BatchState, UploadState


def _plan(*items: dict[str, object]) -> bytes:
    return b"".join(json.dumps(item).encode() + b"\n" for item in items)


def _daemon(factory: type[RunningDaemon], tmp_path: Path, roots: list[Path]) -> RunningDaemon:
    config = tmp_path / "batchd.toml"
    config.write_text(f"allowed_roots = {json.dumps([str(r) for r in roots])}\n")
    daemon = factory(args=("--config", str(config)))
    daemon.start()
    return daemon


def test_escapes_are_refused_at_validation_and_nothing_is_touched(
    daemon_factory: type[RunningDaemon], tmp_path: Path
) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "d").mkdir(parents=True)
    outside.mkdir()
    (outside / "secret").write_text("keep out")
    (root / "d" / "mine").write_text("mine")
    os.symlink(outside, root / "link")
    daemon = _daemon(daemon_factory, tmp_path, [root])
    cases = [
        ({"op": "delete", "path": str(outside / "secret")}, "outside the allowed roots"),
        ({"op": "delete", "path": "d/../../outside/secret"}, "outside the allowed roots"),
        ({"op": "move", "src": "d/mine", "dst": str(outside / "stolen")}, "outside"),
        ({"op": "delete", "path": "link/secret"}, "symlink is never followed"),
        ({"op": "delete", "path": str(daemon.state_dir / "batchd.lock")}, "state directory"),
    ]
    for item, why in cases:
        status = daemon.submit(_plan(item), root)
        assert status.state is UploadState.INVALID, (item, status)
        assert any(why in p.message for p in status.problems), (item, status.problems)
    assert (outside / "secret").read_text() == "keep out"
    assert (root / "d" / "mine").read_text() == "mine"
    ok = daemon.submit(_plan({"op": "move", "src": "d/mine", "dst": "d/moved"}), root)
    assert ok.state is UploadState.ACCEPTED and ok.batch is not None
    assert daemon.wait_batch(ok.batch).state is BatchState.COMPLETED
    assert (root / "d" / "moved").read_text() == "mine"


def test_a_symlink_swapped_in_after_validation_fails_the_item_not_the_outside(
    daemon_factory: type[RunningDaemon], tmp_path: Path
) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "d").mkdir(parents=True)
    outside.mkdir()
    for name in ("a", "b"):
        (root / "d" / name).write_text("inside")
        (outside / name).write_text("outside")
    daemon = _daemon(daemon_factory, tmp_path, [root])
    slow = {"op": "transform", "path": "d/a", "command": ["sh", "-c", "sleep 1; cat"]}
    status = daemon.submit(_plan(slow, {"op": "delete", "path": "d/b"}), root)
    assert status.state is UploadState.ACCEPTED and status.batch is not None
    os.rename(root / "d", root / "d.real")  # validated; now d becomes a link to the outside
    os.symlink(outside, root / "d")
    final = daemon.wait_batch(status.batch)
    assert final.failed >= 1, final
    assert sorted(os.listdir(outside)) == ["a", "b"]
    assert all((outside / n).read_text() == "outside" for n in ("a", "b"))


def test_no_roots_configured_refuses_every_plan_and_says_why(
    daemon_factory: type[RunningDaemon], tmp_path: Path
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "f").write_text("x")
    daemon = _daemon(daemon_factory, tmp_path, [])
    status = daemon.submit(_plan({"op": "delete", "path": "f"}), root)
    assert status.state is UploadState.INVALID
    assert "no allowed roots are configured" in status.problems[0].message
    assert "no allowed roots yet" in daemon.log()
    assert (root / "f").exists()


def test_a_hard_link_to_an_outside_file_is_replaced_by_name_never_written_in_place(
    daemon_factory: type[RunningDaemon], tmp_path: Path
) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "precious").write_text("original\n")
    os.link(outside / "precious", root / "alias")  # someone planted a link to it
    daemon = _daemon(daemon_factory, tmp_path, [root])
    plan = _plan({"op": "transform", "path": "alias", "command": ["tr", "a-z", "A-Z"]})
    status = daemon.submit(plan, root)
    assert status.state is UploadState.ACCEPTED and status.batch is not None
    assert daemon.wait_batch(status.batch).state is BatchState.COMPLETED
    assert (root / "alias").read_text() == "ORIGINAL\n"
    assert (outside / "precious").read_text() == "original\n"  # its inode was never written
