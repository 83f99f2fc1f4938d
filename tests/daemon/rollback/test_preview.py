"""The dry run judges each undo step by the tree the steps before it would leave."""

from __future__ import annotations

import os
from pathlib import Path

from batchd.daemon.ops.fs import FileSystem
from batchd.daemon.ops.step import Fingerprint, OpKind, Step
from batchd.daemon.rollback.planner import PlannedUndo
from batchd.daemon.rollback.preview import conflicts


def _undo(op: OpKind, path: Path, dest: Path | None = None, *, expected: bool = True,
          overwrite: bool = False) -> PlannedUndo:  # fmt: skip
    fingerprint = Fingerprint.of(os.lstat(path)) if expected and path.exists() else None
    step = Step(0, 1, op, os.fsencode(path), os.fsencode(dest) if dest else None, overwrite)
    return PlannedUndo(step, fingerprint, op.name.lower(), (1, 0), 0)


def test_a_swap_undoes_onto_names_the_steps_before_free(tmp_path: Path) -> None:
    a, b, park = tmp_path / "a", tmp_path / "b", tmp_path / ".park"
    a.write_text("was b")
    b.write_text("was a")
    # forward was a→park, b→a, park→b; undo: b→park, a→b, park→a
    undos = [
        _undo(OpKind.MOVE, b, park),
        _undo(OpKind.MOVE, a, b),
        PlannedUndo(
            Step(0, 1, OpKind.MOVE, os.fsencode(park), os.fsencode(a)), None, "m", (1, 0), 0
        ),
    ]
    assert conflicts(undos, FileSystem()) == ["", "", ""]


def test_a_directory_emptied_by_earlier_steps_is_removable(tmp_path: Path) -> None:
    made = tmp_path / "made"
    made.mkdir()
    (made / "f").write_text("x")
    undos = [_undo(OpKind.MOVE, made / "f", tmp_path / "f"), _undo(OpKind.RMDIR, made)]
    assert conflicts(undos, FileSystem()) == ["", ""]


def test_a_file_added_since_blocks_the_rmdir_and_a_recreated_name_blocks_the_move(
    tmp_path: Path,
) -> None:
    made = tmp_path / "made"
    made.mkdir()
    rmdir = _undo(OpKind.RMDIR, made)
    (made / "new").write_text("someone's")
    moved = tmp_path / "moved"
    moved.write_text("m")
    (tmp_path / "original").write_text("re-created")
    back = _undo(OpKind.MOVE, moved, tmp_path / "original")
    reasons = conflicts([back, rmdir], FileSystem())
    assert "re-created" in reasons[0] and "not empty" in reasons[1]


def test_a_conflicting_step_has_no_effect_on_later_ones(tmp_path: Path) -> None:
    kept = tmp_path / "kept"
    kept.write_text("k")
    edited = _undo(OpKind.MOVE, kept, tmp_path / "back")
    kept.write_text("edited!")  # changed since: the move back is a conflict...
    later = _undo(OpKind.RMDIR, tmp_path / "nothing-here")
    reasons = conflicts([edited, later], FileSystem())
    assert "changed since" in reasons[0]
    assert "gone" in reasons[1]  # ...and the tree it judges the next step by is unchanged
