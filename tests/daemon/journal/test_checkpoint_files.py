"""Checkpoint files: atomic writes, verification, and pruning."""

from __future__ import annotations

from pathlib import Path

import pytest

from batchd.daemon.journal.checkpoints import (
    HEADER_SIZE,
    CheckpointFiles,
    checkpoint_name,
    encode_checkpoint,
)
from batchd.daemon.journal.errors import CheckpointCorrupt, UnsupportedCheckpoint


def test_round_trip_and_listing(tmp_path: Path) -> None:
    files = CheckpointFiles(tmp_path / "cp")
    assert files.list() == []
    path = files.write(42, b"body bytes")
    assert path.name == "checkpoint-00000000000000000042.bin"
    files.write(7, b"older")
    assert [lsn for lsn, _ in files.list()] == [7, 42]
    lsn, body = files.read(path)
    assert (lsn, bytes(body)) == (42, b"body bytes")
    assert (tmp_path / "cp").stat().st_mode & 0o777 == 0o700


@pytest.mark.parametrize("damage", ["truncate", "flip_body", "flip_header", "empty"])
def test_damage_is_detected(tmp_path: Path, damage: str) -> None:
    files = CheckpointFiles(tmp_path)
    path = files.write(5, b"x" * 1000)
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        data = data[:-1]
    elif damage == "flip_body":
        data[HEADER_SIZE + 500] ^= 1
    elif damage == "flip_header":
        data[17] ^= 1
    else:
        data = bytearray()
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointCorrupt):
        files.read(path)


def test_a_file_renamed_to_another_lsn_is_refused(tmp_path: Path) -> None:
    files = CheckpointFiles(tmp_path)
    path = files.write(5, b"x")
    moved = path.rename(tmp_path / checkpoint_name(6))
    with pytest.raises(CheckpointCorrupt, match="says it covers LSN 5"):
        files.read(moved)


def test_a_newer_version_is_unsupported(tmp_path: Path) -> None:
    path = tmp_path / checkpoint_name(3)
    path.write_bytes(encode_checkpoint(3, b"future", version=99))
    with pytest.raises(UnsupportedCheckpoint, match="upgrade batchd"):
        CheckpointFiles(tmp_path).read(path)


def test_remove_except_keeps_the_named_ones_and_removes_temporaries(tmp_path: Path) -> None:
    files = CheckpointFiles(tmp_path)
    for lsn in (1, 2, 3):
        files.write(lsn, b"x")
    (tmp_path / (checkpoint_name(4) + ".tmp")).write_bytes(b"half")
    (tmp_path / "unrelated").write_bytes(b"")
    assert files.remove_except({2, 3}) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        checkpoint_name(2),
        checkpoint_name(3),
        "unrelated",
    ]


def test_rewriting_over_a_leftover_temporary_works(tmp_path: Path) -> None:
    files = CheckpointFiles(tmp_path)
    (tmp_path / (checkpoint_name(9) + ".tmp")).write_bytes(b"left by a crash")
    files.write(9, b"fresh")
    assert bytes(files.read(tmp_path / checkpoint_name(9))[1]) == b"fresh"
    assert not (tmp_path / (checkpoint_name(9) + ".tmp")).exists()
