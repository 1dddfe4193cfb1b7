"""The collectors' outbox against a real Tansu that dies: nothing produced is dropped."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from cloudtally.broker.s3 import s3rver_binary
from cloudtally.broker.stack import BrokerStack
from cloudtally.broker.topics import ensure_topics
from cloudtally.collectors.delivery import Outbox, OutboxTimeout
from cloudtally.collectors.producer import PRODUCER_TUNING
from cloudtally.devtools.clickhouse_server import free_port
from tests.conftest import unavailable

pytestmark = pytest.mark.broker


def test_outbox_keeps_what_a_dead_broker_did_not_take_and_sends_it_after_restart(
    settings, tmp_path: Path
) -> None:
    if s3rver_binary() is None:
        unavailable("s3rver missing: run `make tools` (deploy/local/install-s3rver.sh)")
    s = settings(
        kafka_bootstrap=f"127.0.0.1:{free_port()}", broker_s3_port=free_port(), samples_partitions=2
    )
    with BrokerStack(s, tmp_path / "logs") as stack:
        ensure_topics(s)
        box = Outbox(
            lambda: KafkaProducer(bootstrap_servers=stack.bootstrap, **PRODUCER_TUNING),
            source="test",
            retry_pause_s=0.2,
            stall_s=5,
        )
        for i in range(10):
            box.send(s.topic_samples, f"before {i}".encode(), partition=i % 2)
        box.flush()
        assert box.pending == 0

        os.kill(stack.broker.pid or 0, signal.SIGKILL)
        while stack.broker.running():
            time.sleep(0.05)
        for i in range(10):
            box.send(s.topic_samples, f"during {i}".encode(), partition=i % 2)
        with pytest.raises(OutboxTimeout):
            box.flush(timeout=2)  # the broker is down: flush says so, keeps everything
        assert box.pending == 10

        flushed = threading.Event()
        flusher = threading.Thread(target=lambda: (box.flush(), flushed.set()), daemon=True)
        flusher.start()
        time.sleep(1)
        assert not flushed.is_set()  # still waiting for the broker
        stack.broker.stop()
        stack.broker.start()  # from this (main) thread: the child lives as long as the test
        flusher.join(120)
        assert flushed.is_set() and box.pending == 0
        box.close()

        consumer = KafkaConsumer(bootstrap_servers=stack.bootstrap, enable_auto_commit=False)
        tps = [TopicPartition(s.topic_samples, p) for p in (0, 1)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        got: list[bytes] = []
        deadline = time.monotonic() + 60
        while len(set(got)) < 20 and time.monotonic() < deadline:
            for records in consumer.poll(500).values():
                got += [r.value for r in records]
        consumer.close()
    want = {f"{w} {i}".encode() for w in ("before", "during") for i in range(10)}
    assert set(got) == want  # at-least-once: every message there, none invented
