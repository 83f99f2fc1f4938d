"""Every command's ``--json`` output against a real daemon, validated with docs/schemas/."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from running_daemon import BATCHCTL, RunningDaemon
from sample_plans import plan_bytes, slow_batch
from trees import make_files

SCHEMAS = Path(__file__).resolve().parents[2] / "docs" / "schemas"


def _registry() -> Registry:
    resources = []
    for path in SCHEMAS.glob("*.json"):
        schema = json.loads(path.read_text())
        resources.append((schema["$id"], Resource.from_contents(schema)))
    return Registry().with_resources(resources)


REGISTRY = _registry()
BUILDERS = ("move", "copy", "rename", "delete", "mkdir", "transform", "checksum")
"""Plan builders print what ``submit`` prints (docs/schemas/submit.json)."""


def validate(command: str, document: Any) -> None:
    """Validate one document against docs/schemas/<command>.json."""
    schema = json.loads((SCHEMAS / f"{command}.json").read_text())
    Draft202012Validator.check_schema(schema)
    errors = list(Draft202012Validator(schema, registry=REGISTRY).iter_errors(document))
    assert not errors, f"{command}: {[e.message for e in errors]}\n{document}"


class Ctl:
    """Runs batchctl --json against the daemon from a working directory."""

    def __init__(self, daemon: RunningDaemon, cwd: Path) -> None:
        self.daemon, self.cwd = daemon, cwd

    def run(self, *args: str, stdin: bytes | None = None, codes: tuple[int, ...] = (0,)) -> str:
        result = subprocess.run(
            [BATCHCTL, "--runtime-dir", str(self.daemon.runtime_dir), "--json", *args],
            cwd=self.cwd,
            input=stdin,
            capture_output=True,
            timeout=120,
            check=False,
        )
        assert result.returncode in codes, (args, result.returncode, result.stderr)
        return result.stdout.decode()

    def document(self, command: str, *args: str, **kwargs: Any) -> Any:
        """Run `command` and validate its one JSON document; returns it."""
        text = self.run(command, *args, **kwargs)
        document = json.loads(text)
        validate("submit" if command in BUILDERS else command, document)
        return document


def test_every_schema_is_valid_draft_2020_12_and_referenced_from_the_docs() -> None:
    cli_md = (SCHEMAS.parent / "cli.md").read_text()
    for path in SCHEMAS.glob("*.json"):
        schema = json.loads(path.read_text())
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        Draft202012Validator.check_schema(schema)
        assert f"schemas/{path.name}" in cli_md, f"docs/cli.md does not reference {path.name}"


@pytest.mark.slow
def test_json_output_of_every_command_matches_its_schema(
    daemon: RunningDaemon, tmp_path: Path
) -> None:
    ctl = Ctl(daemon, tmp_path)
    make_files(tmp_path, {"a.txt": b"x\n", "b.txt": b"y\n"})
    validate("ping", json.loads(ctl.run("ping")))
    ctl.document("stats")
    ctl.document("limits")
    ctl.document("limits", "--workers", "2")
    ctl.document("check")
    ctl.document("top")

    # submit: accepted, dry run, invalid, --wait (a batch with a failing item), --watch lines.
    good = plan_bytes({"op": "checksum", "path": "a.txt"})
    accepted = ctl.document("submit", "-", stdin=good)
    ctl.document("submit", "-", "--dry-run", stdin=good)
    ctl.document("submit", "-", stdin=b"garbage\n", codes=(1,))
    failing = plan_bytes(
        {"op": "checksum", "path": "a.txt"},
        {"op": "transform", "path": "b.txt", "command": ["false"]},
    )
    failed = ctl.document("submit", "-", "--wait", stdin=failing, codes=(1,))
    assert failed["state"] == "failed"
    lines = ctl.run("submit", "-", "--watch", stdin=good).splitlines()
    assert lines
    for line in lines:
        validate("watch", json.loads(line))
    ctl.document("move", "a.txt", "sub", "--dry-run", codes=(0, 1))

    # following and inspecting
    batch = str(accepted["id"])
    ctl.document("wait", batch)
    ctl.document("progress", batch)
    ctl.document("list")
    ctl.document("list", "--all")
    ctl.document("show", batch)
    ctl.document("show", str(failed["id"]), "--failed")
    for line in ctl.run("watch", batch).splitlines():
        validate("watch", json.loads(line))

    # control: pause, resume, cancel a slow batch; retry the failed one
    slow = str(slow_batch(daemon, tmp_path, count=200))
    ctl.document("pause", slow)
    ctl.document("resume", slow)
    ctl.document("cancel", slow)
    ctl.document("retry", str(failed["id"]))
    ctl.document("wait", str(failed["id"]), codes=(0, 1))
    ctl.document("wait", slow, codes=(1,))

    # undo
    ctl.document("rollback", batch, "--dry-run", codes=(0, 1))
    ctl.document("rollback", batch, "--wait", codes=(0, 1))
    ctl.document("undo", "--dry-run", codes=(0, 1))
    ctl.document("history")
    ctl.document("purge", "--older-than", "0")
    ctl.document("check", codes=(0, 1, 2))
