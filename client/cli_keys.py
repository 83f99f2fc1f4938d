"""``batchctl keygen DIR [--name NAME]`` and the global ``--curve-keys DIR`` option.

batchd serves tcp only with ZeroMQ CURVE (docs/security.md). ``keygen`` writes a key pair as
ZeroMQ certificates: ``NAME.key`` (public, mode 0644) and ``NAME.key_secret`` (mode 0600), in
``DIR`` (created 0700). Use it once for the daemon (``--name server``) and once per client
(default name ``client``); the daemon's ``curve_allowed_clients_dir`` gets each allowed
client's ``client.key`` (renamed as you like), and each client's DIR gets the daemon's
``server.key``. ``batchctl --curve-keys DIR`` then connects to a tcp endpoint with them.

Needs no daemon. Imports zmq only when it runs.
"""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING, Any

from batchd.client.cli_command import Command, CommandFailed, not_connected
from batchd.client.discovery import CURVE_KEYS_ENV
from batchd.client.output import EXIT_FAILED, EXIT_OK

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from batchd.client.output import Output


class CurveKeysOption(argparse.Action):
    """``--curve-keys DIR``: the connection reads the keys from ``$BATCHD_CURVE_KEYS``, so the
    option sets it for this process (the client, its event subscription)."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        setattr(namespace, self.dest, values)
        if isinstance(values, str):
            os.environ[CURVE_KEYS_ENV] = os.path.abspath(values)


def add_curve_keys_option(parser: argparse.ArgumentParser, default: object) -> None:
    """Add ``--curve-keys DIR`` to a parser (batchctl's global options)."""
    parser.add_argument(
        "--curve-keys",
        metavar="DIR",
        action=CurveKeysOption,
        default=default,
        help="CURVE keys for a tcp endpoint: DIR/client.key_secret and the daemon's "
        "DIR/server.key (default: $BATCHD_CURVE_KEYS)",
    )


def _keygen_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("directory", metavar="DIR", help="where to write the key pair")
    parser.add_argument(
        "--name", default="client", help="file name stem: NAME.key, NAME.key_secret"
    )
    parser.add_argument("--force", action="store_true", help="replace an existing key pair")
    parser.epilog = (
        "example: batchctl keygen /etc/batchd/curve --name server; batchctl keygen ~/.batchd"
    )


def _keygen(args: argparse.Namespace, out: Output) -> int:
    """Write the key pair and say where; exit 1 when that fails."""
    from pathlib import Path  # not at import: every batchctl start would pay for it

    from batchd.client.render import aligned, json_document

    try:
        report = write_key_pair(Path(args.directory), str(args.name), force=bool(args.force))
    except CommandFailed as exc:
        out.fail(str(exc))
        return EXIT_FAILED
    rows = [(key.replace("_", " "), value) for key, value in report.items()]
    out.emit(json_document(report) if out.json else aligned(rows))
    return EXIT_OK


def write_key_pair(directory: Path, name: str, *, force: bool) -> dict[str, str]:
    """Write NAME.key and NAME.key_secret in ``directory``; refuse to replace a pair unless
    ``force``. Returns the files and the public key (Z85)."""
    import zmq.auth

    if not name or "/" in name or name.startswith("."):
        raise CommandFailed(f"--name {name!r}: give a plain file name stem like 'client'")
    public, secret = directory / f"{name}.key", directory / f"{name}.key_secret"
    existing = [str(p) for p in (public, secret) if p.exists()]
    if existing and not force:
        raise CommandFailed(f"{', '.join(existing)} already exist; pass --force to replace")
    old_umask = os.umask(0o077)  # the secret file is never readable by others, not even briefly
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        zmq.auth.create_certificates(directory, name)
    except OSError as exc:
        raise CommandFailed(f"cannot write a key pair in {directory}: {exc.strerror}") from None
    finally:
        os.umask(old_umask)
    public.chmod(0o644)
    secret.chmod(0o600)
    key, _ = zmq.auth.load_certificate(public)
    return {"public_file": str(public), "secret_file": str(secret), "public_key": key.decode()}


COMMANDS = {
    "keygen": Command(
        "write a CURVE key pair (NAME.key, NAME.key_secret) for tcp with CURVE",
        not_connected,
        _keygen_arguments,
        offline=_keygen,
    ),
}
