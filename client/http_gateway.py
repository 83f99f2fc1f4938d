"""``batchd-http``: an optional HTTP gateway serving the seed's three endpoints over the client.

    batchd-http [--listen HOST:PORT] [--allow-remote] [--runtime-dir DIR | --endpoint URL]
                [--timeout S] [--busy-timeout S]

It is off unless started, and listens on 127.0.0.1:8787 by default; a host that is not a
loopback address is refused unless ``--allow-remote`` is given, because the gateway has no
authentication (anyone who reaches it can roll batches back). Each request is translated into
one or two calls of :class:`~batchd.client.api.Client` (``progress``, ``resume``,
``rollback``); :mod:`batchd.client.http_api` holds the routes and the documents, and
docs/http-gateway.md describes them for users.

Why the standard library's ``http.server.ThreadingHTTPServer`` and not an ASGI framework:
three small JSON endpoints on localhost need no routing library, no async runtime and no new
dependency to install, audit and keep compatible; a thread per connection also suits the
blocking client, whose rollback may wait for a busy batch to stop.

ZeroMQ sockets are not thread-safe, so a request never shares a Client with another thread:
it borrows one from a :class:`~batchd.client.client_pool.ClientPool` (a lock guards only the
list of idle clients) and gives it back; a client whose connection failed is closed instead,
and the next request connects afresh. The daemon may therefore start after the gateway, or
restart under it.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import TYPE_CHECKING, cast

from batchd.client.client_pool import ClientPool
from batchd.client.http_api import (
    MAX_BODY_BYTES,
    Endpoint,
    HttpProblem,
    JsonDocument,
    error_document,
    headers_for,
    parse_operation_id,
    problem_for,
    progress_document,
    rollback_document,
    route,
)
from batchd.client.http_listen import ListenAddress, listen_address
from batchd.protocol.errors import BatchdError
from batchd.protocol.version import BATCHD_VERSION

if TYPE_CHECKING:
    from batchd.client.api import Client

log = logging.getLogger("batchd.http")

DEFAULT_LISTEN = "127.0.0.1:8787"


class Gateway:
    """The endpoints' work: the client calls each one makes, and the document it returns."""

    def __init__(self, pool: ClientPool, busy_timeout: float) -> None:
        self.pool = pool
        self.busy_timeout = busy_timeout

    def answer(self, endpoint: Endpoint, operation_id: int) -> JsonDocument:
        """The 200 document of `endpoint` for the batch `operation_id`; raises BatchdError."""
        with self.pool.client() as client:
            if endpoint is Endpoint.BATCH_PROGRESS:
                return progress_document(client.progress(operation_id))
            if endpoint is Endpoint.RESUME_OPERATION:
                return progress_document(client.resume(operation_id))
            reply = client.rollback([operation_id], busy_timeout=self.busy_timeout)
            if reply.rollback is not None:
                # The daemon puts the batch in rolling_back before it answers (protocol 4.16).
                return rollback_document(operation_id, reply.rollback, "rolling_back")
            # Nothing left to undo (rolled back before): report where the batch stands.
            state = client.progress(operation_id).state.value
            return rollback_document(operation_id, None, state)


class GatewayServer(ThreadingHTTPServer):
    """The HTTP server: one thread per connection, each handing requests to the Gateway."""

    daemon_threads = True

    def __init__(self, address: ListenAddress, gateway: Gateway) -> None:
        self.address_family = address.family
        super().__init__((address.host, address.port), GatewayHandler)
        self.gateway = gateway


class GatewayHandler(BaseHTTPRequestHandler):
    """Answers every request with JSON, errors included (never the default HTML page)."""

    protocol_version = "HTTP/1.1"
    server_version = f"batchd-http/{BATCHD_VERSION}"
    timeout = 60.0
    """Seconds an idle keep-alive connection keeps its thread."""

    def do_GET(self) -> None:
        """Serve a GET."""
        self._serve()

    # http.server dispatches on these names; one route table decides (404, 405 or an answer).
    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_GET  # noqa: N815

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Errors of http.server itself (a broken request line, ...) as JSON documents."""
        del explain
        self.close_connection = True
        phrase = self.responses.get(code, ("HTTP error",))[0]
        name = phrase.upper().replace(" ", "_").replace("-", "_")  # 501 → NOT_IMPLEMENTED
        self._send_json(code, error_document(name, message or phrase))

    def log_message(self, format: str, *args: object) -> None:
        """Access log lines through logging, not straight to stderr."""
        log.info("%s %s", self.address_string(), format % args)

    def _serve(self) -> None:
        gateway = cast(GatewayServer, self.server).gateway
        headers: Mapping[str, str] = {}
        try:
            target = route(self.command, self.path)
            body = self._read_body()
            operation_id = target.operation_id
            if operation_id is None:
                operation_id = parse_operation_id(body)
            status, document = 200, gateway.answer(target.endpoint, operation_id)
        except HttpProblem as problem:
            status, document, headers = problem.status, problem.document(), headers_for(problem)
        except BatchdError as error:
            answer = problem_for(error)
            status, document = answer.status, answer.document()
        except Exception:
            log.exception("unexpected error serving %s %s", self.command, self.path)
            status = 500
            document = error_document("INTERNAL", "the gateway failed; its log has the details")
        self._send_json(status, document, headers)

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            raise HttpProblem(411, "LENGTH_REQUIRED", "send the body with a Content-Length")
        length_text = self.headers.get("Content-Length")
        if length_text is None:
            if self.command == "POST":
                raise HttpProblem(411, "LENGTH_REQUIRED", "send the body with a Content-Length")
            return b""
        if not (length_text.isascii() and length_text.isdigit()):
            self.close_connection = True
            raise HttpProblem(400, "BAD_REQUEST", f"bad Content-Length {length_text!r}")
        length = int(length_text)
        if length > MAX_BODY_BYTES:
            self.close_connection = True  # the body stays unread
            raise HttpProblem(
                413, "BODY_TOO_LARGE", f"the body has {length} bytes, at most {MAX_BODY_BYTES}"
            )
        return self.rfile.read(length)

    def _send_json(
        self, status: int, document: JsonDocument, headers: Mapping[str, str] | None = None
    ) -> None:
        body = json.dumps(document, allow_nan=False).encode() + b"\n"
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


def build_parser() -> argparse.ArgumentParser:
    """The command line of batchd-http."""
    parser = argparse.ArgumentParser(
        prog="batchd-http",
        description="Serve the seed's HTTP endpoints (batch progress, resume, rollback) for "
        "batchd; see docs/http-gateway.md.",
    )
    parser.add_argument(
        "--listen",
        default=DEFAULT_LISTEN,
        metavar="HOST:PORT",
        help=f"address to listen on (default {DEFAULT_LISTEN}; [::1]:PORT for IPv6; port 0 "
        "picks a free port, printed at start)",
    )
    parser.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a HOST that is not a loopback address; the gateway has no authentication",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--runtime-dir", metavar="DIR", help="the daemon's runtime directory")
    where.add_argument("--endpoint", metavar="URL", help="the daemon's control endpoint")
    parser.add_argument(
        "--timeout", type=float, default=5.0, metavar="S", help="seconds per daemon call"
    )
    parser.add_argument(
        "--busy-timeout",
        type=float,
        default=60.0,
        metavar="S",
        help="seconds a rollback waits for a running batch to stop (default 60)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the gateway until SIGTERM or Ctrl-C; 0 when stopped, 1 when it cannot listen."""
    parser = build_parser()
    args = parser.parse_args(argv)
    for option in ("timeout", "busy_timeout"):
        if not getattr(args, option) > 0:
            parser.error(f"--{option.replace('_', '-')} must be a positive number of seconds")
    try:
        address = listen_address(args.listen, allow_remote=args.allow_remote)
    except ValueError as exc:
        parser.error(str(exc))
    logging.basicConfig(level=logging.INFO, format="batchd-http: %(message)s")

    from batchd.client.api import Client

    def connect() -> Client:
        return Client.connect(args.endpoint, runtime_dir=args.runtime_dir, timeout=args.timeout)

    pool = ClientPool(connect)
    try:
        server = GatewayServer(address, Gateway(pool, args.busy_timeout))
    except OSError as exc:
        print(f"batchd-http: cannot listen on {args.listen}: {exc.strerror}", file=sys.stderr)
        return 1
    port = server.server_address[1]
    shown = f"[{address.host}]" if ":" in address.host else address.host
    print(f"batchd-http: listening on http://{shown}:{port}", flush=True)
    signal.signal(signal.SIGTERM, _stop_on_signal(server))
    try:
        server.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        return 130
    finally:
        server.server_close()
        pool.close()
    return 0


def _stop_on_signal(server: GatewayServer) -> Callable[[int, FrameType | None], None]:
    def stop(signum: int, frame: FrameType | None) -> None:
        del signum, frame
        # shutdown() waits for serve_forever to return: call it from another thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    return stop


if __name__ == "__main__":
    sys.exit(main())
