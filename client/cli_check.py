"""``batchctl check``: a Nagios-style health check of the daemon and its batches.

    check [--stalled-minutes N] [--failed-warn N] [--failed-crit N] [--state-file FILE]

Prints one status line ``BATCHD OK - 2 active batches, 0 failed items | active=2 ...`` (with
``--json`` one document) and exits 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN. The rules are in
:mod:`batchd.client.health`. The check opens its own connection so that an unreachable daemon
is an UNKNOWN status line on stdout (exit 3, as the contract has it), not only a message on
stderr. What it remembers between runs (each running batch's finished count and since when)
is a small JSON file; when it cannot be read or written, the check still runs and judges
stalls from one read only.
"""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

from batchd.client.cli_command import Command, count, not_connected
from batchd.client.output import Output

if TYPE_CHECKING:
    from pathlib import Path

    from batchd.client.health import Seen, Verdict

# hashlib, json, pathlib and time are imported where used: cli.py imports this module for
# every command, and `batchctl ping` should not pay for them.


def default_state_file(endpoint: str, environ: dict[str, str] | None = None) -> Path:
    """``$XDG_CACHE_HOME/batchd/check-<hash of the endpoint>.json`` (``~/.cache`` by default)."""
    import hashlib
    from pathlib import Path

    env = os.environ if environ is None else environ
    cache = env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    digest = hashlib.sha256(endpoint.encode()).hexdigest()[:12]
    return Path(cache) / "batchd" / f"check-{digest}.json"


def load_memory(path: Path) -> dict[int, Seen]:
    """What the previous check remembered; empty when there is none or it is unreadable."""
    import json

    from batchd.client.health import Seen

    try:
        document = json.loads(path.read_text())
        return {int(k): Seen(int(v["finished"]), float(v["since"])) for k, v in document.items()}
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return {}


def save_memory(path: Path, memory: dict[int, Seen]) -> None:
    """Remember the running batches for the next check; a failure only loses the memory."""
    import json

    document = {str(k): {"finished": v.finished, "since": v.since} for k, v in memory.items()}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(document))
        temporary.replace(path)
    except OSError:
        pass


def _judge(args: argparse.Namespace) -> Verdict:
    import time
    from pathlib import Path

    from batchd.client.api import Client
    from batchd.client.errors import ClientError
    from batchd.client.health import Thresholds, assess, daemon_error, unknown
    from batchd.protocol.errors import BatchdError, ProtocolError

    thresholds = Thresholds(args.stalled_minutes, args.failed_warn, args.failed_crit)
    try:
        with Client.connect(args.endpoint, runtime_dir=args.runtime_dir, timeout=args.timeout) as c:
            stats = c.stats()
            batches = c.list_batches(all=True).batches
            endpoint = c.endpoint
    except (ClientError, ProtocolError) as exc:
        return unknown(exc.message)
    except BatchdError as exc:
        return daemon_error(exc.message)
    state_file = Path(args.state_file) if args.state_file else default_state_file(endpoint)
    verdict = assess(
        batches,
        stats.limit_actions,
        len(stats.workers),
        thresholds=thresholds,
        memory=load_memory(state_file),
        now=time.time(),
        journal_error=stats.journal.error,
    )
    save_memory(state_file, dict(verdict.memory))
    return verdict


def _check(args: argparse.Namespace, out: Output) -> int:
    from batchd.client.render import json_document

    verdict = _judge(args)
    out.emit(json_document(verdict.jsonable()) if out.json else verdict.line())
    return int(verdict.status)


def _minutes(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of minutes: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 minutes: {text!r}")
    return value


def _check_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--stalled-minutes",
        metavar="N",
        type=_minutes,
        default=10.0,
        help="CRITICAL when a running batch made no progress for N minutes (default 10)",
    )
    parser.add_argument(
        "--failed-warn",
        metavar="N",
        type=count,
        default=1,
        help="WARNING from N failed items in ended batches not rolled back (default 1)",
    )
    parser.add_argument(
        "--failed-crit",
        metavar="N",
        type=count,
        default=10,
        help="CRITICAL from N failed items (default 10)",
    )
    parser.add_argument(
        "--state-file",
        metavar="FILE",
        help="where to remember progress between checks "
        "(default: $XDG_CACHE_HOME/batchd/check-<endpoint hash>.json)",
    )
    parser.epilog = (
        "example: batchctl check --stalled-minutes 30 --failed-crit 100\n"
        "exit status: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (daemon not reachable)"
    )


COMMANDS: dict[str, Command] = {
    "check": Command(
        "Nagios-style health check: exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN",
        not_connected,
        _check_arguments,
        offline=_check,
    ),
}
