"""``batchctl completion bash|zsh``: print a shell completion script (no daemon needed).

Install (docs/cli.md): ``batchctl completion bash > /etc/bash_completion.d/batchctl``;
for zsh, ``batchctl completion zsh > ~/.zfunc/_batchctl`` with ``~/.zfunc`` on ``$fpath``.
"""

from __future__ import annotations

import argparse

from batchd.client.cli_command import Command, not_connected
from batchd.client.output import EXIT_OK, Output

SHELLS = ("bash", "zsh")


def _completion(args: argparse.Namespace, out: Output) -> int:
    from batchd.client.cli import build_parser
    from batchd.client.completion import bash_script, zsh_script

    parser = build_parser()
    script = bash_script(parser) if args.shell == "bash" else zsh_script(parser)
    out.emit(script.rstrip("\n"))
    return EXIT_OK


def _completion_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("shell", metavar="SHELL", choices=SHELLS, help="bash or zsh")
    parser.epilog = (
        "examples:\n"
        "  batchctl completion bash > /etc/bash_completion.d/batchctl\n"
        "  batchctl completion zsh > ~/.zfunc/_batchctl   # with fpath=(~/.zfunc $fpath)"
    )


COMMANDS: dict[str, Command] = {
    "completion": Command(
        "print a bash or zsh completion script",
        not_connected,
        _completion_arguments,
        offline=_completion,
    ),
}
