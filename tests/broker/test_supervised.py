"""The durable, supervised embedded broker, killed for real.

Processes as ``cloudtally up`` runs them: Tansu on s3rver (``BrokerStack``)
watched by the runner's ``BrokerSupervisor`` from this (main) thread, a real
``cloudtally worker --with-api`` process, and the bundled simulator (its
producer and outbox) as the collector. ``kill -9`` of Tansu, then of s3rver
and Tansu together, while samples flow; afterwards every good sample is in the
store exactly once, the planted dead letters are there once each, and the
worker's committed offsets resumed where they were (a reset to 0 would re-read
and re-dead-letter).
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from prometheus_client import REGISTRY

from cloudtally.broker.s3 import s3rver_binary
from cloudtally.broker.stack import BrokerStack
from cloudtally.broker.status import SupervisorStatus, status_path
from cloudtally.broker.supervisor import BrokerSupervisor
from cloudtally.broker.topics import ensure_topics
from cloudtally.collectors.simulate import SimulationReport, parse_time
from cloudtally.collectors.simulate import run as simulate_run
from cloudtally.devtools.clickhouse_server import free_port
from cloudtally.settings import Settings
from cloudtally.store import Store
from tests.conftest import unavailable
from tests.e2e.test_pipeline import worker_process

pytestmark = pytest.mark.broker
START = "2026-03-02T00:00:00+08:00"
B_START = "2026-03-04T00:00:00+08:00"


@pytest.fixture(autouse=True)
def _need_s3rver() -> None:
    if s3rver_binary() is None:
        unavailable("s3rver missing: run `make tools` (deploy/local/install-s3rver.sh)")


def durable(settings: Callable[..., Settings], **kw: Any) -> Settings:
    return settings(
        kafka_bootstrap=f"127.0.0.1:{free_port()}",
        broker_storage="s3",
        broker_s3_port=free_port(),
        **kw,
    )


def kill9(pid: int | None) -> None:
    assert pid is not None
    os.kill(pid, signal.SIGKILL)


def wait_for(
    check: Callable[[], bool], what: str, tick: Callable[[], object], timeout: float = 300
) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        tick()
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def group_consumer(bootstrap: str, s: Settings) -> KafkaConsumer:
    return KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=s.consumer_group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )


def committed(s: Settings, partitions: int) -> dict[int, int]:
    """The worker group's committed offsets on the samples topic (OffsetFetch, no join)."""
    c = KafkaConsumer(bootstrap_servers=s.kafka_bootstrap, group_id=s.consumer_group)
    try:
        return {p: c.committed(TopicPartition(s.topic_samples, p)) or 0 for p in range(partitions)}
    finally:
        c.close()


# ------------------------------------------------------------------ the stack alone


def test_killed_broker_and_storage_are_restarted_with_messages_and_offsets(
    settings, tmp_path: Path
) -> None:
    s = durable(settings)
    said: list[str] = []
    with BrokerStack(s, tmp_path / "logs") as stack:
        ensure_topics(s)
        sup = BrokerSupervisor(stack, say=said.append)
        producer = KafkaProducer(bootstrap_servers=stack.bootstrap, reconnect_backoff_max_ms=500)
        for i in range(40):
            producer.send(s.topic_samples, value=f"m{i}".encode(), partition=i % 2)
        producer.flush()
        consumer = group_consumer(stack.bootstrap, s)
        tps = [TopicPartition(s.topic_samples, p) for p in (0, 1)]
        consumer.assign(tps)
        first: list[bytes] = []
        while len(first) < 20:
            for records in consumer.poll(500, max_records=20 - len(first)).values():
                first += [r.value for r in records]
        consumer.commit()
        consumer.close()
        assert sup.check() == []  # all running: nothing to do

        kill9(stack.broker.pid)
        wait_for(lambda: not stack.broker.running(), "Tansu to die", lambda: None)
        events = sup.check()
        assert len(events) == 1 and events[0].startswith("broker restarted")
        assert any("broker exited with code -9 (SIGKILL)" in m for m in said)

        kill9(stack.s3.pid if stack.s3 else None)
        kill9(stack.broker.pid)
        wait_for(
            lambda: not stack.broker.running() and stack.s3 is not None and not stack.s3.running(),
            "both to die",
            lambda: None,
        )
        events = sup.check()
        assert [e.split(" ")[0] for e in events] == ["s3rver", "broker"]
        status = SupervisorStatus.read(status_path(s.data_dir))
        assert status is not None
        assert {k: (c.state, c.restarts) for k, c in status.components.items()} == {
            "s3rver": ("up", 1),
            "broker": ("up", 2),
        }

        producer.send(s.topic_samples, value=b"after", partition=0).get(timeout=60)
        producer.close()
        consumer = group_consumer(stack.bootstrap, s)
        consumer.assign(tps)
        rest: list[bytes] = []
        deadline = time.monotonic() + 60
        while len(rest) < 21 and time.monotonic() < deadline:
            for records in consumer.poll(500).values():
                rest += [r.value for r in records]
        consumer.close()
    # Resumed at the committed offsets: the other 20, then the new one; nothing twice.
    assert sorted(first + rest) == sorted([f"m{i}".encode() for i in range(40)] + [b"after"])


# ------------------------------------------------------------------ up-style, end to end


class Simulation(threading.Thread):
    """The bundled simulator (its real producer and outbox) sending one range, in a thread.

    In-process rather than ``cloudtally simulate``: the same code path, without an
    interpreter start-up per run (slow on a busy 2-core CI machine)."""

    def __init__(self, s: Settings, start: str, days: float) -> None:
        super().__init__(daemon=True)
        self.s, self.start_at, self.days = s, start, days
        self.report: SimulationReport | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        t0 = parse_time(self.start_at)
        try:
            self.report = simulate_run(
                self.s,
                seed=4,
                vms=30,
                pools=2,
                bureaus=5,
                start=t0,
                end=t0 + int(self.days * 86_400),
                interval=300,
                bad_ratio=0.002,
                rows_per_message=150,
            )
        except BaseException as exc:
            self.error = exc

    def result(self) -> SimulationReport:
        assert self.error is None, repr(self.error)
        assert self.report is not None
        return self.report


def resent() -> float:
    """Messages this process's simulator outboxes sent again (samples and inventory)."""
    return sum(
        REGISTRY.get_sample_value("cloudtally_produce_resent_total", {"source": src}) or 0.0
        for src in ("simulate", "simulate-inventory")
    )


def dead_letters_expected(r: SimulationReport) -> int:
    return len(r.bad_rows) + len(r.bad_messages) + r.bad_inventory_events


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError as e:
        return 0, str(e)


def test_broker_kills_under_up_lose_and_duplicate_nothing(
    settings, server_store: Store, tmp_path: Path
) -> None:
    s = durable(
        settings,
        api_port=free_port(),
        derive_enabled=False,
        take_max_messages=40,
        samples_partitions=2,
    )
    logs = tmp_path / "logs"
    base = f"http://127.0.0.1:{s.api_port}"
    resent_before = resent()
    said: list[str] = []
    stored = lambda: server_store.scalar("SELECT count() FROM samples")  # noqa: E731

    with BrokerStack(s, logs) as stack:
        ensure_topics(s)
        sup = BrokerSupervisor(stack, say=said.append, after_broker_start=lambda: ensure_topics(s))
        with worker_process(s, logs / "worker.log", with_api=True) as w:
            wait_for(lambda: get(f"{base}/readyz")[0] == 200, "worker ready", sup.check)

            # 1. Tansu killed while the worker is still consuming the first backfill.
            sim = Simulation(s, START, 1)
            sim.start()
            wait_for(lambda: sum(committed(s, 2).values()) > 0, "a first commit", sup.check)
            before = committed(s, 2)
            kill9(stack.broker.pid)
            wait_for(lambda: not stack.broker.running(), "Tansu to die", lambda: None)
            wait_for(lambda: get(f"{base}/readyz")[0] == 503, "not ready", lambda: None, 20)
            assert json.loads(get(f"{base}/readyz")[1])["status"] == "broker unavailable"
            wait_for(lambda: bool(sup.check()) or stack.broker.running(), "restart", lambda: None)
            after = committed(s, 2)
            assert all(after[p] >= before[p] for p in before), (before, after)
            wait_for(lambda: not sim.is_alive(), "simulator A", sup.check)
            a = sim.result()

            # 2. s3rver and Tansu killed together while the simulator is sending.
            sim = Simulation(s, B_START, 2)
            sim.start()
            b_rows = f"SELECT count() FROM samples WHERE toUInt32(ts) >= {parse_time(B_START)}"
            wait_for(lambda: server_store.scalar(b_rows) > 0, "simulator B under way", sup.check)
            kill9(stack.s3.pid if stack.s3 else None)
            kill9(stack.broker.pid)
            wait_for(lambda: not sim.is_alive(), "simulator B", sup.check)
            b = sim.result()

            good = a.good_samples + b.good_samples
            wait_for(lambda: stored() >= good, f"{good} samples stored", sup.check)
            dead_sql = (
                "SELECT uniqExact(topic, partition, offset, row_index, section) FROM dead_letters"
            )
            expected_dead = dead_letters_expected(a) + dead_letters_expected(b)
            wait_for(
                lambda: server_store.scalar(dead_sql) >= expected_dead, "dead letters", sup.check
            )
            wait_for(lambda: get(f"{base}/readyz")[0] == 200, "ready again", sup.check)
            _, metrics_text = get(f"{base}/metrics")
            assert w.poll() is None, "the worker survived both broker deaths"

    counts = server_store.rows(
        "SELECT count(), uniqExact(vm_id, ts), (SELECT count() FROM samples FINAL) FROM samples"
    )[0]
    disks = server_store.scalar("SELECT uniqExact(vm_id, disk_id, ts) FROM disk_samples")
    raw, keys, final = counts
    assert keys == final == good, counts  # every sample exactly once
    assert disks == a.good_disk_samples + b.good_disk_samples
    # Every planted record is dead-lettered. A surplus can only come from a bad message
    # the producer sent twice across a kill (at-least-once: the outbox or kafka-python's own
    # retry; the copy has its own offset, so its own record) -- at most one copy each.
    surplus = server_store.scalar(dead_sql) - expected_dead
    assert 0 <= surplus <= expected_dead, (surplus, resent() - resent_before)
    assert raw < 2 * good  # redelivery after a kill is bounded (uncommitted batches only)
    assert 'cloudtally_broker_restarts_total{component="broker"} 2.0' in metrics_text
    assert 'cloudtally_broker_restarts_total{component="s3rver"} 1.0' in metrics_text
    assert sum("restarted" in m for m in said) == 3, said
