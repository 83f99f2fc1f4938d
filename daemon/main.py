"""``batchd``: parse the command line, load the config, run the daemon in the foreground.

Exit status: 0 after a clean stop (SIGTERM/SIGINT); 2 usage error; 78 bad config; 73 a state or
runtime directory cannot be made or is unsafe; 75 another daemon holds the lock; 1 anything
else (including a journal that cannot be recovered or written).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
from collections.abc import Mapping

from batchd.daemon.app import run_daemon
from batchd.daemon.config import LOG_LEVELS, MAX_WORKERS_LIMIT, Config, load_config
from batchd.daemon.errors import DaemonError
from batchd.daemon.journal import JournalCorrupt, JournalWriteError
from batchd.daemon.logs import configure_logging
from batchd.daemon.paths import resolve_paths
from batchd.protocol.version import BATCHD_VERSION, PROTOCOL_VERSION

log = logging.getLogger("batchd.daemon")


def _workers(text: str) -> int:
    value = int(text)
    if not 1 <= value <= MAX_WORKERS_LIMIT:
        raise argparse.ArgumentTypeError(f"must be from 1 to {MAX_WORKERS_LIMIT}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The ``batchd`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="batchd",
        description="Run the batchd daemon in the foreground (systemd or you supervise it).",
    )
    parser.add_argument("--config", metavar="FILE", help="TOML config file")
    parser.add_argument("--state-dir", metavar="DIR", help="journal and undo store")
    parser.add_argument("--runtime-dir", metavar="DIR", help="sockets and pid file")
    parser.add_argument("--max-workers", metavar="N", type=_workers, help="worker processes")
    parser.add_argument("--log-level", choices=LOG_LEVELS, help="default: info")
    parser.add_argument(
        "--allowed-root",
        metavar="DIR",
        action="append",
        help="a directory plans may change (repeatable; overrides allowed_roots)",
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"batchd {BATCHD_VERSION} (protocol {PROTOCOL_VERSION})",
    )
    return parser


def with_allowed_roots(config: Config, flags: list[str] | None, env: Mapping[str, str]) -> Config:
    """``--allowed-root`` flags win over the config file, which wins over
    ``$BATCHD_DEFAULT_ALLOWED_ROOTS`` (the units' defaults: the user's home for the user
    service, none for the system service until configured; colon-separated)."""
    if flags:
        return dataclasses.replace(config, allowed_roots=tuple(flags))
    default = env.get("BATCHD_DEFAULT_ALLOWED_ROOTS")
    if config.allowed_roots is None and default is not None:
        roots = tuple(r for r in default.split(":") if r)
        return dataclasses.replace(config, allowed_roots=roots)
    return config


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``batchd`` console script."""
    args = build_parser().parse_args(argv)
    try:
        paths = resolve_paths(
            state_dir=args.state_dir,
            runtime_dir=args.runtime_dir,
            config=args.config,
            env=os.environ,
            uid=os.geteuid(),
        )
        config = load_config(paths.config_file, required=paths.config_required)
        overrides = {"max_workers": args.max_workers, "log_level": args.log_level}
        config = dataclasses.replace(config, **{k: v for k, v in overrides.items() if v})
        config = with_allowed_roots(config, args.allowed_root, os.environ)
        configure_logging(config.log_level)
        return run_daemon(config, paths)
    except DaemonError as exc:
        print(f"batchd: {exc}", file=sys.stderr)
        return exc.exit_status
    except JournalCorrupt as exc:
        print(f"batchd: journal cannot be recovered: {exc}", file=sys.stderr)
        return 1
    except JournalWriteError as exc:
        log.critical("journal write failed, stopping (recovery runs at the next start): %s", exc)
        return 1


if __name__ == "__main__":
    sys.exit(main())
