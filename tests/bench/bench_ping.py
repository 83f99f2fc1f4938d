"""`ping` round-trip latency through the real daemon vs a bare pyzmq REQ/REP echo on ipc.

Run: `.venv/bin/python tests/bench/bench_ping.py [--quick]`. Both run in the same process on
the same machine at the same time of day; the ratio is what to compare across machines. The last
line printed is one JSON object with the results.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import zmq

from batchd.protocol import codec
from batchd.protocol.messages import PingReply, PingRequest

BATCHD = str(Path(sys.executable).with_name("batchd"))


def percentile(samples: list[float], fraction: float) -> float:
    """The sample at ``fraction`` of the sorted list (nearest rank)."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def time_round_trips(sock: zmq.Socket[bytes], payload_for: object, count: int) -> list[float]:
    """Send/receive ``count`` times on a DEALER, returning each round trip in microseconds."""
    samples = []
    for i in range(count):
        body = payload_for(i)  # type: ignore[operator]
        started = time.perf_counter()
        sock.send_multipart([b"", body])
        sock.recv_multipart()
        samples.append((time.perf_counter() - started) * 1e6)
    return samples


def bare_echo(endpoint: str, stop: threading.Event) -> None:
    """A REP socket that echoes each message back (the baseline)."""
    rep = zmq.Context.instance().socket(zmq.REP)
    rep.bind(endpoint)
    while not stop.is_set():
        if rep.poll(100):
            rep.send(rep.recv())
    rep.close(linger=0)


def main() -> None:
    """Measure both and print a table and a JSON line."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    count = 300 if parser.parse_args().quick else 20_000
    ctx = zmq.Context.instance()
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        daemon = subprocess.Popen(
            [BATCHD, "--state-dir", f"{tmp}/state", "--runtime-dir", str(run_dir)],
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 15
            while not (run_dir / "control.sock").exists():
                assert time.monotonic() < deadline, "batchd did not start"
                time.sleep(0.05)
            sock = ctx.socket(zmq.DEALER)
            sock.connect(f"ipc://{run_dir}/control.sock")
            ping = codec.encode_request(1, PingRequest())
            time_round_trips(sock, lambda i: ping, min(count, 1000))  # warm-up
            sock.send_multipart([b"", ping])
            codec.parse_reply(codec.decode_reply_envelope(sock.recv_multipart()[1]), PingReply)
            daemon_us = time_round_trips(
                sock, lambda i: codec.encode_request(i, PingRequest()), count
            )
            sock.close(linger=0)
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(15)

        stop = threading.Event()
        echo_endpoint = f"ipc://{tmp}/echo.sock"
        thread = threading.Thread(target=bare_echo, args=(echo_endpoint, stop), daemon=True)
        thread.start()
        req = ctx.socket(zmq.DEALER)
        req.connect(echo_endpoint)
        time_round_trips(req, lambda i: ping, min(count, 1000))
        echo_us = time_round_trips(req, lambda i: codec.encode_request(i, PingRequest()), count)
        req.close(linger=0)
        stop.set()
        thread.join()

    results = {
        "count": count,
        "daemon_p50_us": statistics.median(daemon_us),
        "daemon_p99_us": percentile(daemon_us, 0.99),
        "echo_p50_us": statistics.median(echo_us),
        "echo_p99_us": percentile(echo_us, 0.99),
    }
    results["ratio_p50"] = results["daemon_p50_us"] / results["echo_p50_us"]
    results["ratio_p99"] = results["daemon_p99_us"] / results["echo_p99_us"]
    print(f"ping round trips: {count} each, cpus={os.cpu_count()}")
    print(f"{'':24}{'p50 µs':>10}{'p99 µs':>10}")
    print(f"{'batchd ping':24}{results['daemon_p50_us']:10.1f}{results['daemon_p99_us']:10.1f}")
    print(f"{'bare REQ/REP echo':24}{results['echo_p50_us']:10.1f}{results['echo_p99_us']:10.1f}")
    print(f"{'ratio':24}{results['ratio_p50']:10.2f}{results['ratio_p99']:10.2f}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
