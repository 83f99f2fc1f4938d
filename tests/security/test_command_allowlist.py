"""transform_commands: a system service names the commands transforms may run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from running_daemon import RunningDaemon

from batchd.daemon.config import ConfigError, default_config, parse_config
from batchd.daemon.ops.command_policy import refusal
from batchd.protocol.batch_messages import BatchState, UploadState


def test_the_rule_is_an_exact_first_word() -> None:
    allowed = frozenset({"tr", "/usr/bin/sed"})
    assert refusal(["tr", "a-z", "A-Z"], allowed) is None
    assert refusal(["/usr/bin/sed", "s/a/b/"], allowed) is None
    assert "not in transform_commands" in (refusal(["sed", "x"], allowed) or "")
    assert "not in transform_commands" in (refusal(["/bin/tr", "a", "b"], allowed) or "")
    assert refusal(["anything"], None) is None
    assert "(none)" in (refusal(["tr"], frozenset()) or "")
    with pytest.raises(ConfigError, match="transform_commands"):
        parse_config({"transform_commands": "tr"}, "t.toml", default_config())


def test_a_daemon_with_an_allow_list_refuses_other_commands_at_validation(
    daemon_factory: type[RunningDaemon], tmp_path: Path
) -> None:
    config = tmp_path / "batchd.toml"
    config.write_text('transform_commands = ["tr"]\n')
    daemon = daemon_factory(args=("--config", str(config)))
    daemon.start()
    data = tmp_path / "data"
    data.mkdir()
    (data / "f").write_text("hello\n")
    bad = {"op": "transform", "path": "f", "command": ["sh", "-c", "rm -rf /"]}
    status = daemon.submit(json.dumps(bad).encode() + b"\n", data)
    assert status.state is UploadState.INVALID
    assert "'sh' is not in transform_commands (tr)" in status.problems[0].message
    good = {"op": "transform", "path": "f", "command": ["tr", "a-z", "A-Z"]}
    status = daemon.submit(json.dumps(good).encode() + b"\n", data)
    assert status.state is UploadState.ACCEPTED and status.batch is not None
    assert daemon.wait_batch(status.batch).state is BatchState.COMPLETED
    assert (data / "f").read_text() == "HELLO\n"
