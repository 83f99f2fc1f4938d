"""Socket permissions and peers: 0700 runtime dir, 0600 sockets, other users locked out, and
the submitting uid in the log (libzmq's Peer-Address carries SO_PEERCRED for ipc)."""

from __future__ import annotations

import contextlib
import os
import pwd
import socket
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import zmq
from polling import wait_until
from running_daemon import RunningDaemon

from batchd.protocol import codec
from batchd.protocol.batch_messages import SubmitBeginRequest
from batchd.protocol.messages import PingRequest


def _needs_root() -> None:
    if os.geteuid() != 0:
        if os.environ.get("CI") == "true":
            pytest.fail("this test needs root (useradd) and CI runs as root")
        pytest.skip("needs root to create a second user")


@pytest.fixture
def other_user() -> Iterator[pwd.struct_passwd]:
    """A throw-away local user, deleted afterwards."""
    _needs_root()
    name = f"bdtest{os.getpid() % 100000}"
    subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
                   check=True, capture_output=True)  # fmt: skip
    try:
        yield pwd.getpwnam(name)
    finally:
        subprocess.run(["userdel", name], check=False, capture_output=True)


@pytest.fixture
def open_root(daemon_factory: type[RunningDaemon]) -> Iterator[RunningDaemon]:
    """A daemon whose root directory everyone may traverse, so only the runtime dir's and
    the sockets' own modes stand between another user and the sockets."""
    root = Path(tempfile.mkdtemp(prefix="batchd-access-"))
    root.chmod(0o755)
    daemon = daemon_factory(root)
    daemon.start()
    yield daemon
    daemon.shutdown()
    subprocess.run(["rm", "-rf", str(root)], check=False)


def _as_user(user: pwd.struct_passwd, daemon: RunningDaemon, frames: list[bytes]) -> str:
    """Fork, drop to ``user``, try a raw Unix connect and a ZeroMQ request; report what
    happened: 'EACCES', 'answered' or 'no answer'."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        outcome = "error"
        try:
            os.setgroups([])
            os.setgid(user.pw_gid)
            os.setuid(user.pw_uid)
            outcome = _probe(daemon, frames)
        finally:
            os.write(write, outcome.encode())
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        outcome = pipe.read()
    os.waitpid(pid, 0)
    return outcome


def _probe(daemon: RunningDaemon, frames: list[bytes]) -> str:
    path = str(daemon.runtime_dir / "control.sock")
    with socket.socket(socket.AF_UNIX) as raw:
        try:
            raw.connect(path)
        except PermissionError:
            return "EACCES"  # also try ZeroMQ below only when the raw connect worked
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    try:
        sock.connect(daemon.control_endpoint)
        sock.send_multipart(frames)
        return "answered" if sock.poll(1500) else "no answer"
    finally:
        sock.close()
        ctx.term()


def _ping() -> list[bytes]:
    return [b"", codec.encode_request(1, PingRequest())]


def test_runtime_dir_is_0700_and_sockets_0600(daemon: RunningDaemon) -> None:
    assert stat.S_IMODE(daemon.runtime_dir.stat().st_mode) == 0o700
    for name in ("control.sock", "events.sock"):
        info = (daemon.runtime_dir / name).stat()
        assert stat.S_ISSOCK(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o600


def test_another_user_cannot_reach_the_sockets(
    open_root: RunningDaemon, other_user: pwd.struct_passwd
) -> None:
    assert _as_user(other_user, open_root, _ping()) == "EACCES"
    # The socket mode alone also keeps them out when the directory is opened up.
    open_root.runtime_dir.chmod(0o755)
    assert _as_user(other_user, open_root, _ping()) == "EACCES"
    open_root.runtime_dir.chmod(0o700)


def test_an_opened_up_socket_answers_and_the_log_names_the_peers_uid(
    open_root: RunningDaemon, other_user: pwd.struct_passwd, tmp_path: Path
) -> None:
    """The control for the test above (the probe can succeed), and SO_PEERCRED at work."""
    open_root.runtime_dir.chmod(0o755)
    (open_root.runtime_dir / "control.sock").chmod(0o666)
    try:
        assert _as_user(other_user, open_root, _ping()) == "answered"
        begin = SubmitBeginRequest(name="peer", cwd=b"/", dry_run=True)
        assert _as_user(other_user, open_root, [b"", codec.encode_request(2, begin)]) == "answered"
    finally:
        with contextlib.suppress(OSError):
            (open_root.runtime_dir / "control.sock").chmod(0o600)
        open_root.runtime_dir.chmod(0o700)
    # submit_end logs who submitted, with the uid libzmq got from SO_PEERCRED:
    plan = tmp_path / "plan"
    plan.mkdir()
    status = open_root.submit(b'{"op": "mkdir", "path": "x"}\n', plan, dry_run=True)
    assert status.problem_count == 0
    wait_until(lambda: f"uid {os.getuid()} (pid " in open_root.log(), 5, what="the uid log line")
