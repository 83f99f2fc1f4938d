"""Client.events: subscribe by topic prefix, decode frames, stop at the deadline."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest
from fake_router import FakePublisher, FakeRouter, answering

from batchd.client import Client, DaemonUnreachable
from batchd.protocol.codec import EventFrame
from batchd.protocol.events import DaemonState, DaemonStatus

STATUS = DaemonStatus(state=DaemonState.RUNNING, pid=4242, uptime=1.5)


def test_events_yield_decoded_frames_of_the_subscribed_topic(
    control: str, publish_endpoint: str
) -> None:
    with (
        FakeRouter(control, answering()),
        FakePublisher(publish_endpoint, [STATUS]),
        Client.connect(control, timeout=5.0) as client,
        client.events(("daemon",)) as stream,
    ):
        first = next(stream)
        second = next(stream)
    assert isinstance(first, EventFrame)
    assert (first.topic, first.event) == ("daemon", STATUS)
    assert second.seq > first.seq
    assert stream.closed


def test_events_of_other_topics_are_filtered_and_iteration_stops_in_time(
    control: str, publish_endpoint: str
) -> None:
    with (
        FakeRouter(control, answering()),
        FakePublisher(publish_endpoint, [STATUS]),
        Client.connect(control, timeout=5.0) as client,
    ):
        start = time.monotonic()
        frames = list(client.events("batch.", timeout=0.3))
        elapsed = time.monotonic() - start
    assert frames == []
    assert 0.3 <= elapsed < 0.8


def test_closing_the_client_ends_its_subscriptions(control: str, publish_endpoint: str) -> None:
    with FakeRouter(control, answering()), FakePublisher(publish_endpoint, [STATUS]):
        client = Client.connect(control, timeout=5.0)
        stream = client.events(timeout=math.inf)
        assert next(stream).event == STATUS
        client.close()
        with pytest.raises(StopIteration):
            next(stream)


def test_missing_event_socket_raises_daemon_unreachable(control: str, runtime_dir: Path) -> None:
    with (
        FakeRouter(control, answering()),
        Client.connect(control, timeout=5.0) as client,
        pytest.raises(DaemonUnreachable, match=r"events\.sock"),
    ):
        client.events()
