"""The runtime directory and endpoints, resolved as contract.md says (the CLI option is the
caller's: it wins before ``default_runtime_dir`` is consulted at all)."""

from __future__ import annotations

import pytest

from batchd.protocol.endpoints import (
    control_endpoint,
    default_runtime_dir,
    events_endpoint,
    events_endpoint_for,
)

USER = 1000
ALL = {
    "BATCHD_RUNTIME_DIR": "/custom",
    "RUNTIME_DIRECTORY": "/run/systemd-given",
    "XDG_RUNTIME_DIR": "/run/user/1000",
}


@pytest.mark.parametrize("uid", [0, USER])
def test_batchd_runtime_dir_comes_first(uid: int) -> None:
    assert default_runtime_dir(ALL, uid) == "/custom"


@pytest.mark.parametrize("uid", [0, USER])
def test_then_systemds_runtime_directory(uid: int) -> None:
    env = {k: v for k, v in ALL.items() if k != "BATCHD_RUNTIME_DIR"}
    assert default_runtime_dir(env, uid) == "/run/systemd-given"


def test_systemd_may_list_several_directories_and_the_first_is_ours() -> None:
    assert default_runtime_dir({"RUNTIME_DIRECTORY": "/run/a:/run/b"}, USER) == "/run/a"


def test_batchd_runtime_dir_is_taken_verbatim_even_with_a_colon() -> None:
    assert default_runtime_dir({"BATCHD_RUNTIME_DIR": "/tmp/a:b"}, USER) == "/tmp/a:b"


def test_then_run_batchd_for_root_even_with_xdg_set() -> None:
    assert default_runtime_dir({"XDG_RUNTIME_DIR": "/run/user/0"}, 0) == "/run/batchd"
    assert default_runtime_dir({}, 0) == "/run/batchd"


def test_then_xdg_runtime_dir_for_users() -> None:
    assert default_runtime_dir({"XDG_RUNTIME_DIR": "/run/user/1000"}, USER) == (
        "/run/user/1000/batchd"
    )
    assert default_runtime_dir({"XDG_RUNTIME_DIR": "/run/user/1000/"}, USER) == (
        "/run/user/1000/batchd"
    )


def test_without_xdg_runtime_dir_a_per_user_tmp_directory() -> None:
    # contract.md is silent here; docs/protocol.md documents this fallback.
    assert default_runtime_dir({}, USER) == "/tmp/batchd-1000"


def test_empty_variables_count_as_unset() -> None:
    env = {"BATCHD_RUNTIME_DIR": "", "RUNTIME_DIRECTORY": "", "XDG_RUNTIME_DIR": "/x"}
    assert default_runtime_dir(env, USER) == "/x/batchd"


@pytest.mark.parametrize("runtime_dir", ["/run/batchd", "/run/batchd/"])
def test_endpoints_live_in_the_runtime_dir(runtime_dir: str) -> None:
    assert control_endpoint(runtime_dir) == "ipc:///run/batchd/control.sock"
    assert events_endpoint(runtime_dir) == "ipc:///run/batchd/events.sock"


def test_the_events_endpoint_sits_beside_the_control_endpoint() -> None:
    assert events_endpoint_for(control_endpoint("/r")) == events_endpoint("/r")
    assert events_endpoint_for("tcp://127.0.0.1:5555") == "tcp://127.0.0.1:5556"
    assert events_endpoint_for("tcp://[::1]:7000") == "tcp://[::1]:7001"


@pytest.mark.parametrize("control", ["ipc:///r/other.sock", "tcp://host", "inproc://x", ""])
def test_no_events_endpoint_for_unknown_shapes(control: str) -> None:
    with pytest.raises(ValueError, match="cannot derive"):
        events_endpoint_for(control)
