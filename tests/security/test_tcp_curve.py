"""tcp only with CURVE: refused at start without keys; unknown client keys get no answer."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest
from running_daemon import BATCHCTL, BATCHD, RunningDaemon

from batchd.client.cli_keys import write_key_pair


def _free_port_pair() -> int:
    for _ in range(50):
        with socket.socket() as a:
            a.bind(("127.0.0.1", 0))
            port = int(a.getsockname()[1])
        with socket.socket() as b:
            try:
                b.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise AssertionError("no two free consecutive ports")


def test_tcp_without_curve_keys_is_refused_at_start(tmp_path: Path) -> None:
    config = tmp_path / "batchd.toml"
    config.write_text('listen_tcp = "tcp://127.0.0.1:5555"\n')
    result = subprocess.run(
        [BATCHD, "--config", str(config), "--state-dir", str(tmp_path / "s"),
         "--runtime-dir", str(tmp_path / "r")],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert result.returncode == 78, result.stderr
    assert "listen_tcp" in result.stderr and "CURVE" in result.stderr
    assert not (tmp_path / "s").exists()  # refused before anything was created


def test_group_readable_server_secret_key_is_refused(tmp_path: Path) -> None:
    write_key_pair(tmp_path / "keys", "server", force=False)
    (tmp_path / "keys" / "server.key_secret").chmod(0o640)
    (tmp_path / "allowed").mkdir()
    config = tmp_path / "batchd.toml"
    config.write_text(
        'listen_tcp = "tcp://127.0.0.1:5555"\n'
        f'curve_server_secret_key_file = "{tmp_path}/keys/server.key_secret"\n'
        f'curve_allowed_clients_dir = "{tmp_path}/allowed"\n'
    )
    result = subprocess.run(
        [BATCHD, "--config", str(config), "--state-dir", str(tmp_path / "s")],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert result.returncode == 78 and "chmod 600" in result.stderr, result.stderr


@pytest.fixture
def curve_daemon(tmp_path: Path, daemon_factory: type[RunningDaemon]) -> tuple[RunningDaemon, str]:
    keys = tmp_path / "server-keys"
    write_key_pair(keys, "server", force=False)
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    for who in ("known", "stranger"):
        write_key_pair(tmp_path / who, "client", force=False)
        (tmp_path / who / "server.key").write_bytes((keys / "server.key").read_bytes())
    (allowed / "known.key").write_bytes((tmp_path / "known" / "client.key").read_bytes())
    endpoint = f"tcp://127.0.0.1:{_free_port_pair()}"
    config = tmp_path / "batchd.toml"
    config.write_text(
        f'listen_tcp = "{endpoint}"\n'
        f'curve_server_secret_key_file = "{keys}/server.key_secret"\n'
        f'curve_allowed_clients_dir = "{allowed}"\n'
    )
    daemon = daemon_factory(args=("--config", str(config)))
    daemon.start()
    return daemon, endpoint


def _batchctl(endpoint: str, keys: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BATCHCTL, "--endpoint", endpoint, "--curve-keys", str(keys), "--timeout", "2", *args],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip


def test_known_curve_client_pings_and_unknown_gets_no_answer(
    curve_daemon: tuple[RunningDaemon, str], tmp_path: Path
) -> None:
    daemon, endpoint = curve_daemon
    known = _batchctl(endpoint, tmp_path / "known", "--json", "ping")
    assert known.returncode == 0, known.stderr
    assert str(daemon.process.pid) in known.stdout  # type: ignore[union-attr]
    stranger = _batchctl(endpoint, tmp_path / "stranger", "ping")
    assert stranger.returncode == 3, stranger.stderr
    assert "no batchd answered" in stranger.stderr
    assert "refused a tcp client" in daemon.log()
    assert daemon.ping().pid == daemon.process.pid  # type: ignore[union-attr]  # ipc still open


def test_tcp_without_client_keys_is_a_usage_error(curve_daemon: tuple[RunningDaemon, str]) -> None:
    _, endpoint = curve_daemon
    result = subprocess.run(
        [BATCHCTL, "--endpoint", endpoint, "ping"],
        capture_output=True, text=True, timeout=30, check=False,
        env={"PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert result.returncode == 2 and "--curve-keys" in result.stderr, result.stderr


def test_revoked_client_key_is_refused_on_its_next_connection(
    curve_daemon: tuple[RunningDaemon, str], tmp_path: Path
) -> None:
    _, endpoint = curve_daemon
    assert _batchctl(endpoint, tmp_path / "known", "ping").returncode == 0
    (tmp_path / "allowed" / "known.key").unlink()
    assert _batchctl(endpoint, tmp_path / "known", "ping").returncode == 3
