"""batchd logs to a real journald with structured fields when stderr is a journal stream.

In a private mount namespace (``unshare -m``) the test hides ``/run`` and the persistent
journal under tmpfs mounts, starts Debian's ``systemd-journald`` there with volatile storage,
runs batchd under ``systemd-cat`` (stderr connected to journald, ``JOURNAL_STREAM`` naming it,
as systemd does for a service), runs two small batches with the real ``batchctl``, and reads
the entries back with ``journalctl -o json``. Nothing outside the namespace or tmp_path changes.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from systemd_testing import BATCHCTL, BATCHD, require

JOURNALD = "/lib/systemd/systemd-journald"
UNSHARE = ("unshare", "-m", "--propagation", "private")

SCRIPT = r"""
set -eu
W=$1 BATCHD=$2 BATCHCTL=$3
mount -t tmpfs -o mode=0755 tmpfs /run
if [ -d /var/log/journal ]; then mount -t tmpfs -o mode=0755 tmpfs /var/log/journal; fi
mount --bind "$W/journald.conf" /etc/systemd/journald.conf
/lib/systemd/systemd-journald >"$W/journald.out" 2>&1 &
JPID=$!
trap 'kill $JPID 2>/dev/null || true' EXIT
wait_for() { i=0; while [ ! -S "$1" ]; do
  i=$((i+1)); [ $i -lt 200 ] || { echo "no $1" >&2; exit 1; }; sleep 0.05; done; }
wait_for /run/systemd/journal/stdout
wait_for /run/systemd/journal/socket
systemd-cat -t batchd-stderr sh -c \
  'JOURNAL_STREAM=$(stat -L -c %d:%i /proc/self/fd/2) exec "$0" "$@"' \
  "$BATCHD" --state-dir "$W/state" --runtime-dir "$W/run" --max-workers 1 --log-level debug &
DPID=$!
wait_for "$W/run/control.sock"
"$BATCHCTL" --runtime-dir "$W/run" mkdir "$W/data/made" --wait
"$BATCHCTL" --runtime-dir "$W/run" transform --command false "$W/data/f.txt" --wait \
  && { echo "the failing transform succeeded" >&2; exit 1; }
kill -TERM $DPID
wait $DPID
journalctl --directory=/run/log/journal -o json --no-pager >"$W/all.json"
journalctl --directory=/run/log/journal -o json --no-pager BATCH_ID=2 >"$W/batch2.json"
"""


def _entries(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.slow
def test_batch_story_is_in_the_journal_with_structured_fields(tmp_path: Path) -> None:
    require("unshare", "systemd-cat", "journalctl", JOURNALD, root=True)
    (tmp_path / "data").mkdir()
    (tmp_path / "data/f.txt").write_text("content\n")
    (tmp_path / "journald.conf").write_text("[Journal]\nStorage=volatile\nRateLimitBurst=0\n")
    (tmp_path / "script.sh").write_text(SCRIPT)
    result = subprocess.run(
        [*UNSHARE, "sh", str(tmp_path / "script.sh"), str(tmp_path), BATCHD, BATCHCTL],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "data/made").is_dir()

    ours = [e for e in _entries(tmp_path / "all.json") if e.get("SYSLOG_IDENTIFIER") == "batchd"]
    messages = [e["MESSAGE"] for e in ours]
    assert any(m.startswith("journal recovered in ") for m in messages), messages
    # Through JournalHandler, not stderr: native transport, code location, no stderr format.
    assert all(e["_TRANSPORT"] == "journal" and e.get("CODE_FUNC") for e in ours)
    stream = [e for e in _entries(tmp_path / "all.json") if e.get("_TRANSPORT") == "stdout"]
    assert not [e for e in stream if "journal recovered" in str(e.get("MESSAGE"))], stream

    accepted = [
        e for e in ours if e["MESSAGE"].startswith("batch 1 ") and "accepted" in e["MESSAGE"]
    ]
    assert [e["BATCH_ID"] for e in accepted] == ["1"]
    ended = [e for e in ours if e["MESSAGE"].startswith("batch 1 completed")]
    assert [(e["BATCH_ID"], e["PRIORITY"]) for e in ended] == [("1", "6")]

    story = _entries(tmp_path / "batch2.json")  # journalctl BATCH_ID=2
    assert {e["BATCH_ID"] for e in story} == {"2"}
    failure = [e for e in story if "ITEM" in e]
    assert len(failure) == 1, [e["MESSAGE"] for e in story]
    assert failure[0]["PRIORITY"] == "4"  # warning
    assert (failure[0]["ITEM"], failure[0]["OP"], failure[0]["PATH"]) == (
        "1",
        "transform",
        str(tmp_path / "data/f.txt"),
    )
    assert any(e["MESSAGE"].startswith("batch 2 failed") for e in story)
