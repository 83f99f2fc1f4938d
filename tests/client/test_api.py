"""The typed Client against a fake daemon of this protocol version."""

from __future__ import annotations

import dataclasses

import pytest
from fake_router import FakeRouter, Received, answering, error, hello_reply, ok, raw

from batchd.client import Client, ClientClosed, InvalidEndpoint
from batchd.protocol import errors
from batchd.protocol.errors import BatchdError, MalformedMessage
from batchd.protocol.messages import PingReply, StatsReply
from batchd.protocol.version import PROTOCOL_VERSION


def test_connect_shakes_hands_and_answers_ping_and_stats(
    control: str, runtime_dir: object, ping_reply: PingReply, stats_reply: StatsReply
) -> None:
    with (
        FakeRouter(control, answering(ping=ping_reply, stats=stats_reply)) as router,
        Client.connect(runtime_dir=str(runtime_dir), timeout=2.0) as client,
    ):
        assert client.endpoint == control
        assert client.daemon == hello_reply()
        assert client.ping() == ping_reply
        assert client.stats() == stats_reply
    ids = [r.request_id for r in router.received]
    assert [r.command for r in router.received] == ["hello", "ping", "stats"]
    assert len(set(ids)) == 3
    assert all(r.version == PROTOCOL_VERSION for r in router.received)


def test_stale_reply_with_another_id_is_discarded(control: str, ping_reply: PingReply) -> None:
    stale = dataclasses.replace(ping_reply, pid=1, uptime=0.0)

    def stale_first(request: Received) -> list[bytes]:
        if request.command == "hello":
            return [ok(request.request_id, hello_reply())]
        assert request.request_id is not None
        return [ok(request.request_id - 1, stale), ok(request.request_id, ping_reply)]

    with FakeRouter(control, stale_first), Client.connect(control, timeout=2.0) as client:
        assert client.ping() == ping_reply


def test_late_answer_to_a_timed_out_request_is_not_taken_for_the_next(
    control: str, ping_reply: PingReply
) -> None:
    late = dataclasses.replace(ping_reply, pid=1)
    unanswered: list[int] = []

    def answer_late(request: Received) -> list[bytes]:
        assert request.request_id is not None
        if request.command == "hello":
            return [ok(request.request_id, hello_reply())]
        if not unanswered:  # the first ping times out; its answer comes with the second
            unanswered.append(request.request_id)
            return []
        return [ok(unanswered[0], late), ok(request.request_id, ping_reply)]

    with FakeRouter(control, answer_late), Client.connect(control, timeout=2.0) as client:
        with pytest.raises(BatchdError):
            client.ping(timeout=0.2)
        assert client.ping() == ping_reply


ERROR_CLASSES = [
    errors.MalformedMessage,
    errors.MessageTooLarge,
    errors.VersionMismatch,
    errors.UnknownCommand,
    errors.InvalidArguments,
    errors.BatchNotFound,
    errors.InvalidPlan,
    errors.Unavailable,
    errors.BatchBusy,
    errors.RollbackBlocked,
    errors.RollbackUnavailable,
    errors.InternalError,
]


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda cls: cls.__name__)
def test_error_replies_raise_the_same_class(control: str, cls: type[BatchdError]) -> None:
    sent = cls(f"{cls.__name__} happened", {"batch": "b-17"})
    with (
        FakeRouter(control, answering(stats=sent)),
        Client.connect(control, timeout=2.0) as client,
        pytest.raises(cls) as caught,
    ):
        client.stats()
    assert type(caught.value) is cls
    assert caught.value.message == f"{cls.__name__} happened"
    assert caught.value.details == {"batch": "b-17"}


def test_unknown_error_code_keeps_its_string(control: str) -> None:
    body = {"code": "SOMETHING_NEW", "message": "a newer daemon's error", "details": {}}

    def newer(request: Received) -> list[bytes]:
        if request.command == "hello":
            return [ok(request.request_id, hello_reply())]
        return [raw({"v": PROTOCOL_VERSION, "id": request.request_id, "ok": False, "error": body})]

    with (
        FakeRouter(control, newer),
        Client.connect(control, timeout=2.0) as client,
        pytest.raises(BatchdError) as caught,
    ):
        client.ping()
    assert type(caught.value) is BatchdError
    assert caught.value.wire_code == "SOMETHING_NEW"


def test_error_without_a_request_id_answers_the_waiting_request(control: str) -> None:
    def no_id(request: Received) -> list[bytes]:
        if request.command == "hello":
            return [ok(request.request_id, hello_reply())]
        return [error(None, MalformedMessage("could not read the envelope"))]

    with (
        FakeRouter(control, no_id),
        Client.connect(control, timeout=2.0) as client,
        pytest.raises(MalformedMessage, match="could not read the envelope"),
    ):
        client.ping()


def test_unreadable_reply_raises_malformed_message(control: str) -> None:
    def garbage(request: Received) -> list[bytes]:
        if request.command == "hello":
            return [ok(request.request_id, hello_reply())]
        return [b"\xc1 not msgpack"]

    with (
        FakeRouter(control, garbage),
        Client.connect(control, timeout=2.0) as client,
        pytest.raises(MalformedMessage),
    ):
        client.ping()


def test_reply_with_missing_field_raises_invalid_arguments(control: str) -> None:
    def short(request: Received) -> list[bytes]:
        if request.command == "hello":
            return [ok(request.request_id, hello_reply())]
        result = {"daemon_version": "0.1.0"}
        return [
            raw({"v": PROTOCOL_VERSION, "id": request.request_id, "ok": True, "result": result})
        ]

    with (
        FakeRouter(control, short),
        Client.connect(control, timeout=2.0) as client,
        pytest.raises(errors.InvalidArguments, match="missing field"),
    ):
        client.ping()


def test_closed_client_refuses_requests(control: str, ping_reply: PingReply) -> None:
    with FakeRouter(control, answering(ping=ping_reply)):
        client = Client.connect(control, timeout=2.0)
        client.close()
        client.close()  # idempotent
        assert client.closed
        with pytest.raises(ClientClosed):
            client.ping()


@pytest.mark.parametrize(
    "endpoint", ["foo://bar", "tcp://no-port", "ipc:///tmp/" + "x" * 200 + "/control.sock"]
)
def test_unusable_endpoint_raises_invalid_endpoint(endpoint: str) -> None:
    with pytest.raises(InvalidEndpoint) as caught:
        Client.connect(endpoint, timeout=1.0)
    assert endpoint in caught.value.message


def test_timeout_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        Client.connect("ipc:///nonexistent/control.sock", timeout=0)


def test_endpoint_and_runtime_dir_exclude_each_other() -> None:
    with pytest.raises(ValueError, match="not both"):
        Client.connect("ipc:///a/control.sock", runtime_dir="/b")
