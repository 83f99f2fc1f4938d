"""Starting plan validator processes, with one kept warm.

A validator is a fresh interpreter (``python -m batchd.daemon.batches.validator``): a plan is
checked outside the daemon's loop, and whatever the check costs in memory goes away with the
process. Its start-up (the interpreter and the plan modules, ~70-100 ms of CPU) used to come
after the upload. Now, when an upload begins, a spare validator is started with
``--job-from-stdin``: it imports everything, then waits for its arguments on stdin while the
client is still sending the plan. At the end of the upload the spare gets the job; when there
is none (or it died), a validator starts the old way.

A spare never lingers: it exits when its stdin closes (``close``, or the daemon's death), and
at most one exists at a time.
"""

from __future__ import annotations

import contextlib
import json
import logging
import subprocess
import sys
from collections.abc import Sequence
from typing import Final

log = logging.getLogger(__name__)

MODULE: Final = "batchd.daemon.batches.validator"
JOB_FROM_STDIN: Final = "--job-from-stdin"


class ValidatorLauncher:
    """Starts validators; ``warm`` prepares the next one ahead of its job."""

    def __init__(self) -> None:
        self._spare: subprocess.Popen[bytes] | None = None

    def warm(self) -> None:
        """Have a spare validator waiting (no-op when one is already up)."""
        if self._spare is not None and self._spare.poll() is None:
            return
        self._discard_spare()
        try:
            self._spare = _popen([JOB_FROM_STDIN], stdin=subprocess.PIPE)
        except OSError as error:  # e.g. out of processes: the job will start one later
            log.warning("cannot start a spare plan validator: %s", error)

    def start(self, arguments: Sequence[str]) -> subprocess.Popen[bytes]:
        """A validator running the job ``arguments`` (the validator's command-line options):
        the spare if one is waiting, else a new process. Its stdout closes when it ends."""
        spare, self._spare = self._spare, None
        if spare is not None and spare.poll() is None and spare.stdin is not None:
            try:
                spare.stdin.write(json.dumps(list(arguments)).encode() + b"\n")
                spare.stdin.close()
                spare.stdin = None  # closed: ``communicate`` must not flush it
            except OSError:  # it died meanwhile: start one the old way
                _stop(spare)
            else:
                return spare
        elif spare is not None:
            _stop(spare)
        return _popen(arguments, stdin=subprocess.DEVNULL)

    def close(self) -> None:
        """Stop the spare, if any (daemon shutdown)."""
        self._discard_spare()

    def _discard_spare(self) -> None:
        spare, self._spare = self._spare, None
        if spare is not None:
            _stop(spare)


def _popen(arguments: Sequence[str], *, stdin: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", MODULE, *arguments],
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Kill and reap ``process`` and close its pipes."""
    with contextlib.suppress(OSError):
        process.kill()
    process.wait()
    for pipe in (process.stdin, process.stdout, process.stderr):
        if pipe is not None:
            with contextlib.suppress(OSError):
                pipe.close()
