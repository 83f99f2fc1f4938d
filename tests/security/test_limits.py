"""Request limits: items per plan, and uploads plus active batches per client."""

from __future__ import annotations

from pathlib import Path

import pytest
from running_daemon import RunningDaemon

from batchd.daemon.batches.upload_limits import count_items
from batchd.daemon.config import default_config, parse_config
from batchd.daemon.errors import ConfigError
from batchd.daemon.peers import peer_from_metadata
from batchd.protocol.batch_messages import SubmitBeginReply, SubmitBeginRequest, UploadState
from batchd.protocol.errors import InvalidPlan, Unavailable


@pytest.mark.parametrize(
    ("chunks", "items"),
    [
        ([b'{"a":1}\n{"b":2}\n'], 2),
        ([b'{"a":1}\n\n\r\n{"b":2}'], 2),
        ([b'{"a"', b':1}\n{"b"', b":2}\n\n"], 2),
        ([b"\n\n", b"x", b"\n", b"\r\n"], 1),
        ([b"x", b"\n\ny\n"], 2),
    ],
)
def test_count_items_skips_blank_lines_across_chunks(chunks: list[bytes], items: int) -> None:
    count, open_line = 0, False
    for chunk in chunks:
        count, open_line = count_items(count, open_line, chunk)
    assert count + open_line == items


def test_peer_from_metadata() -> None:
    ipc = peer_from_metadata(b"\x01", "localhost:1000:100:4242", None)
    assert (ipc.uid, ipc.gid, ipc.pid, ipc.client_key) == (1000, 100, 4242, "uid:1000")
    assert ipc.describe() == "uid 1000 (pid 4242)"
    tcp = peer_from_metadata(b"\x01", "fe80::1:2:3", "KEY")
    assert tcp.uid is None and tcp.client_key == "curve:KEY" and tcp.host == "fe80::1:2:3"
    assert peer_from_metadata(b"\xab", None, None).client_key == "connection:ab"


def test_limit_keys_are_checked() -> None:
    base = default_config()
    assert parse_config({"max_plan_items": 5}, "f", base).max_plan_items == 5
    for bad in ({"max_plan_items": 0}, {"max_active_batches_per_client": "x"},
                {"listen_tcp": "udp://x:1"}, {"listen_tcp": "tcp://h:65535"},
                {"curve_allowed_clients_dir": "relative"}):  # fmt: skip
        with pytest.raises(ConfigError):
            parse_config(bad, "f", base)


def _daemon(factory: type[RunningDaemon], tmp_path: Path, toml: str) -> RunningDaemon:
    config = tmp_path / "batchd.toml"
    config.write_text(toml)
    daemon = factory(args=("--config", str(config)))
    daemon.start()
    return daemon


def test_a_plan_over_max_plan_items_is_refused(
    daemon_factory: type[RunningDaemon], tmp_path: Path
) -> None:
    daemon = _daemon(daemon_factory, tmp_path, "max_plan_items = 3\n")
    work = tmp_path / "work"
    work.mkdir()
    three = b"".join(b'{"op": "mkdir", "path": "d%d"}\n' % i for i in range(3))
    assert daemon.submit(three + b"\n\n", work, dry_run=True).state is UploadState.CHECKED
    with pytest.raises(InvalidPlan, match=r"more than 3 items.*max_plan_items"):
        daemon.submit(three + b'{"op": "mkdir", "path": "d3"}', work, dry_run=True)
    assert daemon.ping().pid == daemon.process.pid  # type: ignore[union-attr]


def test_a_client_gets_at_most_max_active_batches_per_client(
    daemon_factory: type[RunningDaemon], tmp_path: Path
) -> None:
    daemon = _daemon(daemon_factory, tmp_path, "max_active_batches_per_client = 2\n")
    begin = SubmitBeginRequest(name="open", cwd=str(tmp_path).encode())
    for _ in range(2):
        daemon.request(begin, SubmitBeginReply)
    with pytest.raises(Unavailable, match=r"uid \d+ .*max_active_batches_per_client = 2"):
        daemon.request(begin, SubmitBeginReply)
