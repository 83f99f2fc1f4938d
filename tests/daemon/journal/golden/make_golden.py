"""Write the golden journal of the current format version.

Run: ``.venv/bin/python tests/daemon/journal/golden/make_golden.py`` writes
``tests/daemon/journal/golden/v<FORMAT_VERSION>/`` through the real ``Journal`` (one open per
run, one commit per group) and refuses to touch an existing directory. ``--replace`` rewrites
it, which is only allowed while that format version is unreleased: a released version's golden
journal is never regenerated. Segment salts are random, so two generations differ in bytes but
not in content; ``test_golden.py`` checks the committed bytes.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from batchd.daemon.journal import Journal
from batchd.daemon.journal.format import FORMAT_VERSION
from batchd.daemon.journal.records import DaemonStarted, DaemonStopped, JournalRecord

GOLDEN = Path(__file__).resolve().parent

# The runs stored in the golden journal, one commit per inner list: a clean run, then a run
# that recorded an unclean stop (the second commit is a group of two records).
RUNS: list[list[list[JournalRecord]]] = [
    [
        [DaemonStarted(pid=4242, time=1_700_000_000.5, version="0.1.0")],
        [DaemonStopped(time=1_700_000_060.25, clean=True)],
    ],
    [
        [DaemonStarted(pid=4343, time=1_700_000_100.0, version="0.1.0")],
        [DaemonStopped(time=1_700_000_101.0, clean=False)] * 2,
    ],
]
RECORDS = [record for run in RUNS for group in run for record in group]


def write_golden(directory: Path) -> None:
    """Write the golden journal into ``directory`` (which must not exist)."""
    for run in RUNS:
        journal, _ = Journal.open(directory, list)
        for group in run:
            for record in group:
                journal.append(record)
            journal.commit()
        journal.close()


def main(argv: list[str] | None = None) -> int:
    """Generate ``golden/v<FORMAT_VERSION>``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--replace", action="store_true", help="rewrite an existing, still unreleased version"
    )
    args = parser.parse_args(argv)
    target = GOLDEN / f"v{FORMAT_VERSION}"
    if target.exists():
        if not args.replace:
            print(f"{target} exists; released golden journals are never regenerated")
            return 1
        shutil.rmtree(target)
    write_golden(target)
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
