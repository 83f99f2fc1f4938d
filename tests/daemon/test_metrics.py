"""The Prometheus exporter: address checks and collector (pure), then a real daemon scraped
over HTTP with urllib and parsed with prometheus_client's text parser while a batch runs."""

from __future__ import annotations

import re
import socket
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from polling import wait_until
from prometheus_client import generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from running_daemon import RunningDaemon
from sample_plans import slow_batch

from batchd.daemon.config import Config, parse_config
from batchd.daemon.errors import EX_CONFIG, ConfigError
from batchd.daemon.metrics import MetricsSnapshot, WorkerFigures, count_states
from batchd.daemon.metrics_address import parse_metrics_listen
from batchd.daemon.metrics_exporter import MetricsExporter
from batchd.protocol.batch_messages import BatchState, ItemState, has_ended
from batchd.protocol.messages import LimitActions

BASE = Config(max_workers=2)
OPERATIONS_MD = Path(__file__).parents[2] / "docs" / "operations.md"

# -- pure: addresses and config -------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("127.0.0.1:9464", ("127.0.0.1", 9464)),
        ("localhost:1", ("localhost", 1)),
        ("[::1]:65535", ("::1", 65535)),
        ("0.0.0.0:9464", ("0.0.0.0", 9464)),
        ("127.0.0.1:0", None),
        ("127.0.0.1:65536", None),
        ("::1:9464", None),
        ("[127.0.0.1]:9464", None),
        ("example.com:9464", None),
        ("127.0.0.1", None),
        ("http://127.0.0.1:9464", None),
    ],
)
def test_listen_addresses_are_ip_literals_or_localhost(
    value: str, parsed: tuple[str, int] | None
) -> None:
    assert parse_metrics_listen(value) == parsed


def test_metrics_are_off_by_default_and_loopback_is_accepted() -> None:
    assert BASE.metrics_listen == "" and not BASE.metrics_allow_remote
    config = parse_config({"metrics_listen": "[::1]:9464"}, "f.toml", BASE)
    assert config.metrics_listen == "[::1]:9464"


@pytest.mark.parametrize("listen", ["0.0.0.0:9464", "[::]:9464", "192.0.2.7:9464"])
def test_a_remote_address_needs_metrics_allow_remote(listen: str) -> None:
    with pytest.raises(ConfigError, match="metrics_allow_remote = true"):
        parse_config({"metrics_listen": listen}, "f.toml", BASE)
    data = {"metrics_listen": listen, "metrics_allow_remote": True}
    assert parse_config(data, "f.toml", BASE).metrics_listen == listen


def test_a_malformed_address_names_the_key() -> None:
    with pytest.raises(ConfigError, match="key 'metrics_listen' must be"):
        parse_config({"metrics_listen": "9464"}, "f.toml", BASE)


# -- the collector, without a daemon ----------------------------------------------------------


def _families(text: str) -> dict[str, Metric]:
    return {family.name: family for family in text_string_to_metric_families(text)}


def _value(family: Metric, sample: str, **labels: str) -> float:
    found = [s.value for s in family.samples if s.name == sample and s.labels == labels]
    assert len(found) == 1, (sample, labels, family.samples)
    return found[0]


def test_the_exporter_shows_the_snapshot_and_the_observed_items() -> None:
    exporter = MetricsExporter("127.0.0.1", 1)  # never started: no socket
    exporter.collector.snapshot = MetricsSnapshot(
        batches=count_states([BatchState.RUNNING, BatchState.COMPLETED, BatchState.COMPLETED]),
        workers=(
            WorkerFigures(0, 4242, "busy", 87.5, 10 << 20),
            WorkerFigures(1, 4243, "idle", None, None),
        ),
        limit_actions=LimitActions(3, 1.5, 1, 0, 2),
        journal_commits=17,
        journal_fsyncs=20,
        daemon_rss=50 << 20,
    )
    exporter.observe_item(ItemState.COMPLETED, 0.004)
    exporter.observe_item(ItemState.RETRY_WAIT, 2.0)
    exporter.observe_item(ItemState.FAILED, 0.5)
    exporter.observe_item(ItemState.COMPLETED, 120.0)
    found = _families(generate_latest(exporter.registry).decode())

    batches = found["batchd_batches"]
    assert _value(batches, "batchd_batches", state="running") == 1
    assert _value(batches, "batchd_batches", state="completed") == 2
    assert _value(batches, "batchd_batches", state="rolled_back") == 0
    assert _value(found["batchd_workers"], "batchd_workers", state="busy") == 1
    assert _value(found["batchd_worker_pid"], "batchd_worker_pid", slot="1") == 4243
    cpu = found["batchd_worker_cpu_percent"]
    assert [(s.labels, s.value) for s in cpu.samples] == [({"slot": "0"}, 87.5)]
    assert _value(found["batchd_worker_rss_bytes"], "batchd_worker_rss_bytes", slot="0") == 10 << 20
    assert _value(found["batchd_limit_cpu_throttles"], "batchd_limit_cpu_throttles_total") == 3
    oom = found["batchd_limit_kernel_oom_kills"]
    assert _value(oom, "batchd_limit_kernel_oom_kills_total") == 2
    assert _value(found["batchd_journal_fsyncs"], "batchd_journal_fsyncs_total") == 20
    assert _value(found["batchd_daemon_rss_bytes"], "batchd_daemon_rss_bytes") == 50 << 20
    assert _value(found["batchd_items_completed"], "batchd_items_completed_total") == 2
    assert _value(found["batchd_items_retried"], "batchd_items_retried_total") == 1
    assert _value(found["batchd_items_failed"], "batchd_items_failed_total") == 1
    latency = found["batchd_item_latency_seconds"]
    assert _value(latency, "batchd_item_latency_seconds_count") == 4
    assert _value(latency, "batchd_item_latency_seconds_bucket", le="0.005") == 1
    assert _value(latency, "batchd_item_latency_seconds_bucket", le="60.0") == 3


def test_every_metric_is_documented_in_operations_md() -> None:
    exporter = MetricsExporter("127.0.0.1", 1)
    names = _families(generate_latest(exporter.registry).decode())
    exposed = {name for name in names if not name.endswith("_created")}  # documented as a rule
    documented = set(re.findall(r"`(batchd_[a-z_]+?)(?:_total)?(?:\{[^`]*\})?`", _docs()))
    assert exposed <= documented, exposed - documented
    assert documented <= exposed, documented - exposed


def _docs() -> str:
    text = OPERATIONS_MD.read_text()
    return text[text.index("## Metrics") :]


# -- a real daemon ----------------------------------------------------------------------------


@pytest.fixture
def free_port() -> Iterator[int]:
    """A loopback port nothing listens on (right now)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    yield port


def _config(tmp_path: Path, text: str) -> tuple[str, ...]:
    path = tmp_path / "batchd.toml"
    path.write_text(text)
    return ("--config", str(path), "--max-workers", "2")


def _scrape(port: int) -> dict[str, Metric]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
        assert answer.status == 200
        return _families(answer.read().decode())


def _completed(port: int) -> float:
    return _value(_scrape(port)["batchd_items_completed"], "batchd_items_completed_total")


def _batches(port: int, state: str) -> float:
    return _value(_scrape(port)["batchd_batches"], "batchd_batches", state=state)


@pytest.mark.slow
def test_counters_move_as_a_batch_runs(
    daemon_factory: type[RunningDaemon], tmp_path: Path, free_port: int
) -> None:
    daemon = daemon_factory(args=_config(tmp_path, f'metrics_listen = "127.0.0.1:{free_port}"\n'))
    daemon.start()
    before = _scrape(free_port)
    assert _value(before["batchd_items_completed"], "batchd_items_completed_total") == 0
    assert _value(before["batchd_daemon_rss_bytes"], "batchd_daemon_rss_bytes") > 0

    batch = slow_batch(daemon, tmp_path, count=120)  # ~3 s on two workers
    wait_until(lambda: _batches(free_port, "running") == 1, 10, 0.05, "a running batch")
    first = wait_until(lambda: _completed(free_port), 10, 0.05, "a completed item")
    wait_until(lambda: _completed(free_port) > first, 10, 0.05, "more completed items")
    assert not has_ended(daemon.progress(batch)), "the batch ended before the second scrape"
    running = _scrape(free_port)
    assert _value(running["batchd_workers"], "batchd_workers", state="busy") >= 1
    assert _value(running["batchd_worker_pid"], "batchd_worker_pid", slot="0") > 0

    assert daemon.wait_batch(batch).state is BatchState.COMPLETED
    wait_until(lambda: _batches(free_port, "completed") == 1, 5, 0.05, "a completed batch")
    after = _scrape(free_port)
    assert _value(after["batchd_batches"], "batchd_batches", state="running") == 0
    assert _value(after["batchd_items_completed"], "batchd_items_completed_total") == 120
    latency = after["batchd_item_latency_seconds"]
    assert _value(latency, "batchd_item_latency_seconds_count") == 120
    assert _value(latency, "batchd_item_latency_seconds_sum") > 120 * 0.04
    commits = _value(after["batchd_journal_commits"], "batchd_journal_commits_total")
    fsyncs = _value(after["batchd_journal_fsyncs"], "batchd_journal_fsyncs_total")
    assert commits > _value(before["batchd_journal_commits"], "batchd_journal_commits_total")
    timed = _value(after["batchd_journal_commit_seconds"], "batchd_journal_commit_seconds_count")
    assert timed > 0  # each group commit's duration is observed
    assert fsyncs >= commits
    assert daemon.stop() == 0


def test_a_remote_address_stops_the_start_with_exit_78(
    daemon_factory: type[RunningDaemon], tmp_path: Path, free_port: int
) -> None:
    daemon = daemon_factory(args=_config(tmp_path, f'metrics_listen = "0.0.0.0:{free_port}"\n'))
    daemon.start(wait=False)
    assert daemon.wait(15) == EX_CONFIG
    assert "not a loopback address" in daemon.log()


def test_a_taken_port_stops_the_start_with_exit_78(
    daemon_factory: type[RunningDaemon], tmp_path: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        daemon = daemon_factory(args=_config(tmp_path, f'metrics_listen = "127.0.0.1:{port}"\n'))
        daemon.start(wait=False)
        assert daemon.wait(15) == EX_CONFIG
    assert f"cannot listen on 127.0.0.1:{port}" in daemon.log()


def _without_prometheus_client(tmp_path: Path) -> dict[str, str]:
    """An environment in which ``import prometheus_client`` fails, as without the extra."""
    shadow = tmp_path / "shadow" / "prometheus_client"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('hidden by the test')\n")
    return {"PYTHONPATH": str(shadow.parent)}


def test_without_prometheus_client_the_daemon_runs_with_metrics_off(
    daemon_factory: type[RunningDaemon], tmp_path: Path
) -> None:
    daemon = daemon_factory(env=_without_prometheus_client(tmp_path))
    daemon.start()
    assert daemon.ping()
    assert daemon.stop() == 0


def test_metrics_on_without_prometheus_client_stop_the_start_with_exit_78(
    daemon_factory: type[RunningDaemon], tmp_path: Path, free_port: int
) -> None:
    daemon = daemon_factory(
        args=_config(tmp_path, f'metrics_listen = "127.0.0.1:{free_port}"\n'),
        env=_without_prometheus_client(tmp_path),
    )
    daemon.start(wait=False)
    assert daemon.wait(15) == EX_CONFIG
    assert "prometheus-client cannot be imported" in daemon.log()
    assert "batchd[metrics]" in daemon.log()
