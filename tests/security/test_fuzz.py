"""Fuzzing the control socket of a real daemon: 100,000 hostile messages, answered or dropped.

hypothesis generates bursts of messages — random bytes, random msgpack, envelopes of known
commands with wrongly typed fields, unknown commands, huge arrays, deep nesting, odd frame
layouts — and each burst goes out at once on a raw DEALER, then grows by cheap mutations (bit
flips, truncations) of its own messages. A local oracle (the protocol codec) says which error
each message must get; messages that happen to be valid requests are not sent. Oversized
messages go on sockets of their own: ZMQ_MAXMSGSIZE makes the daemon drop those connections.
While each burst is in flight a ping is timed; at the end the daemon's RSS must not have grown
by more than 10 MiB since the warm-up, and it must still answer.
"""

from __future__ import annotations

import dataclasses
import os
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import psutil
import pytest
import zmq
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from running_daemon import RunningDaemon

from batchd.daemon.server import parse_frames
from batchd.protocol import codec
from batchd.protocol.errors import BatchdError, ErrorCode
from batchd.protocol.messages import COMMANDS, PingRequest

MESSAGES = 1_000_000 if os.environ.get("BATCHD_STRESS") else 100_000
MUTATIONS = 7
"""Mutated copies of every generated message: cheap volume beyond what hypothesis draws."""
OVERSIZE_EVERY = 25
"""Bursts between two oversized messages (each on a socket of its own)."""
WARMUP_BURSTS = 10
PING_P99_LIMIT = 0.050
RSS_GROWTH_LIMIT = 10 * 1024 * 1024
REPLY_TIMEOUT = 20.0

FIELDS = {
    name: [f.name for f in dataclasses.fields(command.request)]
    for name, command in COMMANDS.items()
}

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats()
    | st.text(max_size=16)
    | st.binary(max_size=16)
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=8,
)


def _envelope(command: str, args: object, request_id: object = 1, version: object = 1) -> bytes:
    return codec.pack({"v": version, "id": request_id, "cmd": command, "args": args})


@st.composite
def wrong_types(draw: st.DrawFn) -> bytes:
    """A known command whose arguments are some of its own fields with random values."""
    command = draw(st.sampled_from(sorted(FIELDS)))
    names = draw(st.lists(st.sampled_from(FIELDS[command] or ["x"]), max_size=4, unique=True))
    return _envelope(command, {name: draw(values) for name in names}, draw(st.integers(0, 2**63)))


@st.composite
def deep_nesting(draw: st.DrawFn) -> bytes:
    """An array nested thousands deep, alone or as an argument of a ping."""
    depth = draw(st.integers(10, 20_000))
    nested = b"\x91" * depth + b"\xc0"
    if draw(st.booleans()):
        return nested
    prefix = _envelope("ping", {})[:-1]  # drop the empty args map, then append our own
    return prefix + b"\x81" + codec.pack("x") + nested


HUGE = [
    b"\xdd\xff\xff\xff\xff\xc0",  # an array header that claims 2**32-1 items
    b"\xdf\xff\xff\xff\xff",  # a map header that claims 2**32-1 entries
    b"\xdc\xff\xff" + b"\xc0" * 10,  # a 65,535-item array cut short
    codec.pack([0] * (codec.MAX_CONTAINER_ITEMS + 1)),
    _envelope("ping", {"x": [None] * codec.MAX_CONTAINER_ITEMS}),
    _envelope("submit_chunk", {"upload": "0", "seq": 0, "data": b"\x00" * (1 << 20)}),
    b"\xc6\x7f\xff\xff\xff",  # a bin of 2 GiB announced, none sent
]

bodies = st.one_of(
    st.binary(max_size=256),
    values.map(codec.pack),
    wrong_types(),
    st.builds(_envelope, st.text(max_size=24).filter(lambda c: c not in COMMANDS), values),
    st.builds(_envelope, st.just("ping"), st.just({}), values, values),
    deep_nesting(),
    st.sampled_from(HUGE),
)


@st.composite
def messages(draw: st.DrawFn) -> list[bytes]:
    """The frames a DEALER sends: mostly [b"", body], sometimes another layout."""
    body = draw(bodies)
    layout = draw(st.integers(0, 9))
    if layout == 0:
        return [body]
    if layout == 1:
        return [b""] * draw(st.integers(1, 40))
    if layout == 2:
        return [b"", body, *draw(st.lists(st.binary(max_size=8), min_size=1, max_size=5))]
    return [b"", body]


def expected_code(frames: list[bytes]) -> str | None:
    """The error code the daemon must answer with; None for a valid request (not sent)."""
    incoming = parse_frames([b"peer", *frames])
    if incoming.body is None:
        return ErrorCode.MALFORMED_MESSAGE.value
    try:
        envelope = codec.decode_request_envelope(incoming.body)
        codec.check_version(envelope.version, "client")
        codec.parse_request(envelope)
    except BatchdError as exc:
        return exc.wire_code
    return None


def mutate(rng: random.Random, frames: list[bytes]) -> list[bytes]:
    """A bit-flipped, truncated or extended copy of a message's last frame."""
    body = bytearray(frames[-1])
    choice = rng.randrange(3)
    if choice == 0 and body:
        for _ in range(rng.randint(1, 4)):
            body[rng.randrange(len(body))] ^= 1 << rng.randrange(8)
    elif choice == 1 and body:
        del body[rng.randrange(len(body)) :]
    else:
        body += rng.randbytes(rng.randint(1, 16))
    return [*frames[:-1], bytes(body)]


@dataclass
class FuzzRun:
    """What the fuzzing saw, for the final assertions and the printed numbers."""

    daemon: RunningDaemon
    sock: zmq.Socket[bytes]
    pinger: zmq.Socket[bytes]
    sent: int = 0
    oversized: int = 0
    bursts: int = 0
    pings: list[float] = field(default_factory=list)
    rss_after_warmup: int = 0
    codes: dict[str, int] = field(default_factory=dict)

    def burst(self, generated: list[list[bytes]], seed: int) -> None:
        """Send a burst (plus mutations), time a ping meanwhile, check every answer."""
        rng = random.Random(seed)
        burst = [m for g in generated for m in [g, *(mutate(rng, g) for _ in range(MUTATIONS))]]
        expected = [(m, code) for m in burst if (code := expected_code(m)) is not None]
        for frames, _ in expected:
            self.sock.send_multipart(frames)
        self.pings.append(self.ping())
        for frames, code in expected:
            if not self.sock.poll(int(REPLY_TIMEOUT * 1000)):
                raise AssertionError(f"no answer to {frames!r:.200} within {REPLY_TIMEOUT} s")
            reply = codec.decode_reply_envelope(self.sock.recv_multipart()[-1])
            assert reply.error is not None, f"{frames!r:.200} was accepted"
            assert reply.error.wire_code == code, (frames, reply.error.message)
            self.codes[code] = self.codes.get(code, 0) + 1
        self.sent += len(expected)
        self.bursts += 1
        if self.bursts % OVERSIZE_EVERY == 0:
            self.send_oversized(rng)
        if self.bursts == WARMUP_BURSTS:
            self.rss_after_warmup = self.rss()

    def send_oversized(self, rng: random.Random) -> None:
        """One message over ZMQ_MAXMSGSIZE on its own socket; it must get no answer."""
        size = codec.MAX_MESSAGE_BYTES + rng.choice([1, 4096, 1 << 20])
        with dealer(self.daemon) as sock:
            sock.send_multipart([b"", rng.randbytes(64) * (size // 64 + 1)])
            assert not sock.poll(100), "an oversized message was answered"
        self.oversized += 1

    def ping(self) -> float:
        """Seconds a ping takes to be answered on the second socket."""
        started = time.perf_counter()
        self.pinger.send_multipart([b"", codec.encode_request(self.bursts, PingRequest())])
        assert self.pinger.poll(5000), "no answer to a ping within 5 s"
        reply = codec.decode_reply_envelope(self.pinger.recv_multipart()[-1])
        assert reply.error is None and reply.request_id == self.bursts
        return time.perf_counter() - started

    def rss(self) -> int:
        """The daemon's resident memory in bytes."""
        assert self.daemon.process is not None
        return int(psutil.Process(self.daemon.process.pid).memory_info().rss)


@contextmanager
def dealer(daemon: RunningDaemon) -> Iterator[zmq.Socket[bytes]]:
    """A fresh DEALER connected to the daemon's control socket, keeping every reply."""
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVHWM, 0)
    sock.setsockopt(zmq.SNDHWM, 0)
    sock.connect(daemon.control_endpoint)
    try:
        yield sock
    finally:
        sock.close()


def fuzz(daemon: RunningDaemon) -> FuzzRun:
    """Run bursts until MESSAGES messages were sent and answered."""
    per_burst = 40
    examples = MESSAGES // (per_burst * (MUTATIONS + 1) // 2) + WARMUP_BURSTS
    with dealer(daemon) as sock, dealer(daemon) as pinger:
        run = FuzzRun(daemon, sock, pinger)

        @settings(
            max_examples=examples,
            deadline=None,
            database=None,
            derandomize=os.environ.get("CI") == "true",
            phases=(Phase.generate,),
            suppress_health_check=list(HealthCheck),
        )
        @given(st.lists(messages(), min_size=per_burst // 2, max_size=per_burst), st.integers())
        def one_burst(generated: list[list[bytes]], seed: int) -> None:
            if run.sent < MESSAGES:
                run.burst(generated, seed)

        one_burst()
        while run.sent < MESSAGES:  # hypothesis may stop early; top up with seeded bursts
            rng = random.Random(run.sent)
            run.burst(
                [[b"", rng.randbytes(rng.randint(0, 64))] for _ in range(per_burst)], run.sent
            )
    return run


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_hostile_messages_are_answered_with_errors_and_the_daemon_stays_well(
    daemon_factory: type[RunningDaemon],
) -> None:
    daemon = daemon_factory(args=("--max-workers", "1"))
    daemon.start()
    started = time.monotonic()
    run = fuzz(daemon)
    elapsed = time.monotonic() - started
    pings = sorted(run.pings)
    p99 = pings[min(len(pings) - 1, int(len(pings) * 0.99))]
    growth = run.rss() - run.rss_after_warmup
    print(
        f"\nfuzz: {run.sent} messages + {run.oversized} oversized in {elapsed:.1f} s "
        f"({run.sent / elapsed:,.0f}/s), {run.bursts} bursts; ping p50 "
        f"{pings[len(pings) // 2] * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, max "
        f"{pings[-1] * 1000:.1f} ms; RSS {run.rss_after_warmup / 2**20:.1f} MiB after warm-up, "
        f"growth {growth / 2**20:+.2f} MiB; codes {run.codes}"
    )
    assert run.sent >= MESSAGES
    assert p99 <= PING_P99_LIMIT, f"ping p99 {p99 * 1000:.1f} ms"
    assert growth <= RSS_GROWTH_LIMIT, f"RSS grew by {growth / 2**20:.1f} MiB"
    assert daemon.ping().pid == daemon.process.pid  # type: ignore[union-attr]
    assert "internal error" not in daemon.log()
    assert {ErrorCode.MALFORMED_MESSAGE.value, ErrorCode.INVALID_ARGUMENTS.value} <= set(run.codes)
