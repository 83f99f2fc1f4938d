"""Where batchctl looks for the daemon, and the hint it prints when nobody answers."""

from __future__ import annotations

import pytest

from batchd.client.discovery import ipc_path, resolve_endpoint, start_hint

USER = 1000


def test_explicit_endpoint_wins() -> None:
    assert resolve_endpoint("tcp://h:5555", None, {}, USER) == "tcp://h:5555"


def test_runtime_dir_option_beats_the_environment() -> None:
    env = {"BATCHD_RUNTIME_DIR": "/env"}
    assert resolve_endpoint(None, "/opt/", env, USER) == "ipc:///opt/control.sock"


@pytest.mark.parametrize(
    ("env", "uid", "endpoint"),
    [
        ({"BATCHD_RUNTIME_DIR": "/a", "RUNTIME_DIRECTORY": "/b"}, USER, "ipc:///a/control.sock"),
        ({"RUNTIME_DIRECTORY": "/b:/c"}, USER, "ipc:///b/control.sock"),
        ({"XDG_RUNTIME_DIR": "/run/user/1000"}, 0, "ipc:///run/batchd/control.sock"),
        (
            {"XDG_RUNTIME_DIR": "/run/user/1000/"},
            USER,
            "ipc:///run/user/1000/batchd/control.sock",
        ),
    ],
)
def test_default_follows_the_daemons_rules(env: dict[str, str], uid: int, endpoint: str) -> None:
    assert resolve_endpoint(None, None, env, uid) == endpoint


def test_endpoint_and_runtime_dir_exclude_each_other() -> None:
    with pytest.raises(ValueError, match="not both"):
        resolve_endpoint("ipc:///a", "/b", {}, USER)


@pytest.mark.parametrize(
    ("endpoint", "path"),
    [
        ("ipc:///run/batchd/control.sock", "/run/batchd/control.sock"),
        ("ipc://relative.sock", "relative.sock"),
        ("ipc://@abstract", None),
        ("ipc://", None),
        ("tcp://127.0.0.1:5555", None),
    ],
)
def test_ipc_path(endpoint: str, path: str | None) -> None:
    assert ipc_path(endpoint) == path


def test_hint_for_the_default_endpoint_names_systemd() -> None:
    env = {"XDG_RUNTIME_DIR": "/run/user/1000"}
    assert start_hint("ipc:///run/user/1000/batchd/control.sock", env, USER) == (
        "start it with `batchd` or `systemctl --user start batchd`"
    )
    assert start_hint("ipc:///run/batchd/control.sock", {}, 0) == (
        "start it with `batchd` or `systemctl start batchd`"
    )


def test_hint_for_another_runtime_dir_names_the_option() -> None:
    assert start_hint("ipc:///tmp/my dir/control.sock", {}, USER) == (
        "start it with `batchd --runtime-dir '/tmp/my dir'`"
    )


def test_hint_for_other_endpoints() -> None:
    assert start_hint("ipc://@abstract", {}, USER) == "start batchd on that endpoint"
    assert "curve_allowed_clients_dir" in start_hint("tcp://h:5555", {}, USER)
