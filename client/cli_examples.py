"""An example for the ``--help`` of every batchctl command (the argparse epilog).

A command whose ``configure`` sets its own epilog keeps it (``limits``, ``rollback``,
``check``, ``top``, ``completion``); the others get theirs from :data:`EXAMPLES`.
"""

from __future__ import annotations

EXAMPLES: dict[str, str] = {
    "ping": "batchctl ping --json",
    "stats": "batchctl stats",
    "submit": "batchctl submit plan.jsonl --name photos --watch",
    "move": "batchctl move *.jpg sorted/ --wait",
    "copy": "batchctl copy report.pdf notes.txt backup/",
    "rename": "batchctl rename '^IMG_(\\d+)' 'photo-\\1' *.jpg --dry-run",
    "delete": "batchctl delete old/*.log",
    "mkdir": "batchctl mkdir sorted sorted/2024",
    "transform": "batchctl transform --command \"sed 's/foo/bar/'\" *.txt",
    "checksum": "batchctl checksum --algorithm sha256 disk.iso",
    "progress": "batchctl progress 7 --json",
    "watch": "batchctl watch 7 8",
    "wait": 'id=$(batchctl submit plan.jsonl) && batchctl wait "$id"',
    "list": "batchctl list --all",
    "show": "batchctl show 7 --failed",
    "pause": "batchctl pause 7",
    "resume": "batchctl resume 7",
    "cancel": "batchctl cancel 7",
    "retry": "batchctl retry 7 && batchctl wait 7",
    "undo": "batchctl undo --dry-run",
    "history": "batchctl history --batch 7",
    "purge": "batchctl purge --older-than 30",
}


def epilog(command: str) -> str | None:
    """``example: …`` for the command's help, or None when it has no example here."""
    example = EXAMPLES.get(command)
    return None if example is None else f"example: {example}"
