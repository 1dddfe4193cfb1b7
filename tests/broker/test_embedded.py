"""The embedded Tansu broker and topic setup, against the real broker binary."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition

from cloudtally.broker.embedded import BrokerError, EmbeddedBroker, broker_ready, parse_bootstrap
from cloudtally.broker.topics import ensure_topics
from cloudtally.devtools.clickhouse_server import free_port
from cloudtally.settings import Settings

pytestmark = pytest.mark.broker


def partitions(bootstrap: str) -> dict[str, int]:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        return {t["name"]: len(t["partitions"]) for t in admin.describe_topics()}
    finally:
        admin.close()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_parse_bootstrap() -> None:
    assert parse_bootstrap("127.0.0.1:9092") == ("127.0.0.1", 9092)
    assert parse_bootstrap("kafka-1:9092,kafka-2:9092") == ("kafka-1", 9092)
    assert parse_bootstrap("[::1]:19092") == ("::1", 19092)
    with pytest.raises(ValueError):
        parse_bootstrap("no-port")


def test_ensure_topics_creates_requested_partitions_idempotently(broker: str, settings) -> None:
    s = settings(samples_partitions=6, inventory_partitions=3)

    created = ensure_topics(s)
    again = ensure_topics(s)

    names = [s.topic_samples, s.topic_inventory, s.topic_dead_letter, s.topic_alerts]
    assert sorted(created) == sorted(names)
    assert again == []
    have = partitions(broker)
    assert [have[n] for n in names] == [6, 3, 1, 1]


def test_produce_consume_round_trip(broker: str, settings) -> None:
    s = settings(samples_partitions=2)
    ensure_topics(s)
    producer = KafkaProducer(bootstrap_servers=broker, linger_ms=5)
    sent = [(f"vm-{i % 3}".encode(), f"batch {i}".encode()) for i in range(50)]
    for key, value in sent:
        producer.send(s.topic_samples, key=key, value=value)
    producer.flush()
    producer.close()

    consumer = KafkaConsumer(
        bootstrap_servers=broker,
        group_id=s.consumer_group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        session_timeout_ms=6000,
        heartbeat_interval_ms=1000,
    )
    consumer.subscribe([s.topic_samples])
    got: list[tuple[int, bytes, bytes]] = []
    deadline = time.monotonic() + 30
    while len(got) < len(sent) and time.monotonic() < deadline:
        for tp, records in consumer.poll(timeout_ms=500).items():
            got += [(tp.partition, r.key, r.value) for r in records]
    consumer.commit()
    committed = {p: consumer.committed(TopicPartition(s.topic_samples, p)) for p in (0, 1)}
    consumer.close()

    assert sorted((k, v) for _, k, v in got) == sorted(sent)
    # One key, one partition: a VM's batches stay in order.
    by_key: dict[bytes, set[int]] = {}
    for p, k, _ in got:
        by_key.setdefault(k, set()).add(p)
    assert all(len(ps) == 1 for ps in by_key.values())
    for k in by_key:
        values = [v for _, kk, v in got if kk == k]
        assert values == [v for kk, v in sent if kk == k]
    assert sum(c or 0 for c in committed.values()) == len(sent)


def test_broker_stops_cleanly_and_leaves_no_process(tmp_path: Path) -> None:
    s = Settings(_env_file=None, kafka_bootstrap=f"127.0.0.1:{free_port()}")  # type: ignore[call-arg]
    with EmbeddedBroker(s, tmp_path) as b:
        pid = b.pid
        assert pid is not None and alive(pid)
        assert broker_ready(b.bootstrap)
        assert ensure_topics(s)  # usable straight after start
    assert b.pid is None
    assert not alive(pid)
    assert not broker_ready(b.bootstrap, timeout_s=0.5)
    assert "listening on" in (tmp_path / "tansu.log").read_text()


def test_broker_is_stopped_when_the_block_raises(tmp_path: Path) -> None:
    s = Settings(_env_file=None, kafka_bootstrap=f"127.0.0.1:{free_port()}")  # type: ignore[call-arg]
    pid = None
    with pytest.raises(RuntimeError, match="boom"), EmbeddedBroker(s, tmp_path) as b:
        pid = b.pid
        raise RuntimeError("boom")
    assert pid is not None and not alive(pid)


def test_port_already_in_use_is_a_clear_error(broker: str, tmp_path: Path) -> None:
    s = Settings(_env_file=None, kafka_bootstrap=broker)  # type: ignore[call-arg]
    with pytest.raises(BrokerError, match="already answers"):
        EmbeddedBroker(s, tmp_path).start()


def test_serve_forever_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "CLOUDTALLY_KAFKA_BOOTSTRAP": f"127.0.0.1:{port}",
        "CLOUDTALLY_BROKER_STORAGE": "memory",
        "CLOUDTALLY_DATA_DIR": str(tmp_path),
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", "from cloudtally.cli import main; main()", "broker"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 120  # a safety net, not a timing claim (busy CI)
        while not broker_ready(f"127.0.0.1:{port}", timeout_s=0.5):
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            assert time.monotonic() < deadline, "broker did not come up"
            time.sleep(0.1)
        topics = {}
        while set(topics) != {"samples", "inventory", "dead-letter", "alerts"}:
            assert time.monotonic() < deadline, f"topics not created: {topics}"
            topics = partitions(f"127.0.0.1:{port}")
            time.sleep(0.05)
        assert topics["samples"] == Settings(_env_file=None).samples_partitions  # type: ignore[call-arg]

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not broker_ready(f"127.0.0.1:{port}", timeout_s=0.5)  # the Tansu child is gone too
    assert "listening on" in (tmp_path / "logs" / "tansu.log").read_text()
