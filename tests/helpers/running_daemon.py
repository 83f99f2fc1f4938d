"""A real `batchd` process in a temporary directory, driven over its real ipc sockets.

Requests go through a raw DEALER socket and the protocol codec, so daemon tests do not depend
on the client package (client tests use the real `batchctl` against this daemon).
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, TypeVar

import zmq
from polling import wait_until

from batchd.protocol import codec
from batchd.protocol.batch_messages import (
    BatchProgress,
    ProgressRequest,
    SubmitBeginReply,
    SubmitBeginRequest,
    SubmitChunkReply,
    SubmitChunkRequest,
    SubmitEndRequest,
    UploadState,
    UploadStatusReply,
    UploadStatusRequest,
    has_ended,
)
from batchd.protocol.messages import PingReply, PingRequest, Request

BATCHD = str(Path(sys.executable).with_name("batchd"))
BATCHCTL = str(Path(sys.executable).with_name("batchctl"))
R = TypeVar("R")
_ids = itertools.count(1)


class RunningDaemon:
    """Owns one `batchd` child process and its state and runtime directories."""

    def __init__(
        self,
        root: Path,
        *,
        args: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
        name: str = "d",
    ) -> None:
        self.root = root
        self.state_dir = root / f"{name}-state"
        self.runtime_dir = root / f"{name}-run"
        self.log_path = root / f"{name}.log"
        self.args = args
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None
        self._zmq = zmq.Context.instance()

    @property
    def control_endpoint(self) -> str:
        """The daemon's ROUTER endpoint."""
        return f"ipc://{self.runtime_dir}/control.sock"

    @property
    def events_endpoint(self) -> str:
        """The daemon's PUB endpoint."""
        return f"ipc://{self.runtime_dir}/events.sock"

    def command(self) -> list[str]:
        """The command line the daemon is started with."""
        return [
            BATCHD,
            "--state-dir",
            str(self.state_dir),
            "--runtime-dir",
            str(self.runtime_dir),
            "--log-level",
            "debug",
            *self.args,
        ]

    def start(self, wait: bool = True) -> None:
        """Start the process; with ``wait``, return once it answers ping."""
        env = dict(os.environ, **(self.env or {}))
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command(), stdout=log, stderr=subprocess.STDOUT, env=env
            )
        if wait:
            self.wait_ready()

    def wait_ready(self, timeout: float = 15.0) -> PingReply:
        """Poll ping until it answers; fail early if the process died."""

        def answered() -> PingReply | None:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"batchd exited with {self.process.returncode}: {self.log()}")
            try:
                return self.request(PingRequest(), PingReply, timeout=0.2)
            except TimeoutError:
                return None

        return wait_until(answered, timeout, what="batchd to answer ping")

    def send_raw(self, frames: list[bytes], timeout: float = 2.0) -> list[bytes] | None:
        """Send frames on a fresh DEALER; return the reply frames or None on timeout."""
        sock = self._zmq.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        try:
            sock.connect(self.control_endpoint)
            sock.send_multipart(frames)
            if sock.poll(int(timeout * 1000)):
                return sock.recv_multipart()
            return None
        finally:
            sock.close()

    def request(self, message: Request, reply_type: type[R], timeout: float = 5.0) -> R:
        """Send one request and parse the reply (raising the daemon's error class)."""
        request_id = next(_ids)
        reply = self.send_raw([b"", codec.encode_request(request_id, message)], timeout)
        if reply is None:
            raise TimeoutError(f"no reply from {self.control_endpoint} within {timeout} s")
        assert reply[0] == b"" and len(reply) == 2, reply
        envelope = codec.decode_reply_envelope(reply[1])
        assert envelope.request_id == request_id
        return codec.parse_reply(envelope, reply_type)

    def ping(self) -> PingReply:
        """Ping the daemon."""
        return self.request(PingRequest(), PingReply)

    def submit(
        self, plan: bytes, cwd: Path, *, name: str = "test", dry_run: bool = False
    ) -> UploadStatusReply:
        """Stream a plan through the upload commands and wait for the validator's verdict."""
        begin = self.request(
            SubmitBeginRequest(name=name, cwd=os.fsencode(cwd), dry_run=dry_run),
            SubmitBeginReply,
        )
        size = begin.chunk_bytes
        for seq, start in enumerate(range(0, len(plan), size)):
            chunk = SubmitChunkRequest(begin.upload, seq, plan[start : start + size])
            self.request(chunk, SubmitChunkReply)
        status = self.request(SubmitEndRequest(begin.upload), UploadStatusReply)

        def decided() -> UploadStatusReply | None:
            reply = self.request(UploadStatusRequest(begin.upload), UploadStatusReply)
            return None if reply.state is UploadState.VALIDATING else reply

        return (
            status
            if status.state is not UploadState.VALIDATING
            else wait_until(decided, 60, what="plan validation")
        )

    def progress(self, batch: int) -> BatchProgress:
        """One batch's progress."""
        return self.request(ProgressRequest(batch), BatchProgress)

    def wait_batch(self, batch: int, timeout: float = 120.0) -> BatchProgress:
        """Poll progress until the batch reaches a final state."""

        def ended() -> BatchProgress | None:
            progress = self.progress(batch)
            return progress if has_ended(progress) else None

        return wait_until(ended, timeout, interval=0.05, what=f"batch {batch} to end")

    def signal(self, signum: int) -> None:
        """Send a signal to the daemon process."""
        assert self.process is not None
        self.process.send_signal(signum)

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM and wait; returns the exit status."""
        self.signal(signal.SIGTERM)
        return self.wait(timeout)

    def kill(self) -> int:
        """SIGKILL and wait."""
        self.signal(signal.SIGKILL)
        return self.wait(10.0)

    def wait(self, timeout: float) -> int:
        """Wait for the process to exit."""
        assert self.process is not None
        return self.process.wait(timeout)

    def log(self) -> str:
        """Everything the daemon printed so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def batchctl(self, *args: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
        """Run the real `batchctl` against this daemon."""
        return subprocess.run(
            [BATCHCTL, "--runtime-dir", str(self.runtime_dir), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def shutdown(self) -> None:
        """SIGTERM the daemon, wait for it and its children; kill whatever is left."""
        if self.process is None or self.process.poll() is not None:
            return
        import psutil

        children = psutil.Process(self.process.pid).children(recursive=True)
        try:
            self.stop()
        except subprocess.TimeoutExpired:
            self.kill()
        _, alive = psutil.wait_procs(children, timeout=10)
        for child in alive:
            child.kill()

    def cleanup(self) -> None:
        """Kill the process if it still runs."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def __repr__(self) -> str:
        return f"RunningDaemon({self.root}, pid={self.process.pid if self.process else None})"


def json_of(result: subprocess.CompletedProcess[str]) -> Any:
    """Parse a batchctl --json output, failing with its stderr when it is not JSON."""
    import json

    try:
        return json.loads(result.stdout)
    except ValueError:
        raise AssertionError(f"not JSON: {result.stdout!r} (stderr {result.stderr!r})") from None
