"""A collector's dead letters survive a broker that is down while it sends them.

Real parts: the durable embedded broker (Tansu on s3rver), a real worker process
(chDB, its API), the real CollectorSender. Tansu is killed (-9), a window with
unknown-VM series is sent while it is down (the send holds: the outbox keeps
every record until acknowledged), Tansu comes back, and the store lists every
record exactly once, the ones sent before the outage too.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition

from cloudtally.broker.s3 import s3rver_binary
from cloudtally.broker.stack import BrokerStack
from cloudtally.broker.topics import ensure_topics
from cloudtally.collectors.sender import CollectorSender
from cloudtally.devtools.clickhouse_server import free_port
from tests.conftest import unavailable
from tests.e2e.test_pipeline import wait_until, worker_process
from tests.worker.test_collector_dead_letters import WINDOW, dead_letters, no_samples

pytestmark = [pytest.mark.e2e, pytest.mark.broker]

SOURCE = "prometheus-outage"


def series(n: int) -> dict[str, Any]:
    return {
        "reason": f"vm_id 'vm-ghost-{n}' is not in inventory",
        "labels": {"__name__": "vm_cpu_usage", "vm_id": f"vm-ghost-{n}"},
        "points": 4,
    }


@pytest.mark.timeout(300)
def test_dead_letters_sent_while_the_broker_is_down_are_stored_once_each(
    settings, tmp_path: Path
) -> None:
    if s3rver_binary() is None:
        unavailable("s3rver missing: run `make tools` (deploy/local/install-s3rver.sh)")
    s = settings(
        kafka_bootstrap=f"127.0.0.1:{free_port()}",
        broker_s3_port=free_port(),
        samples_partitions=2,
        store_url=f"chdb://{tmp_path / 'chdb'}",
        api_port=free_port(),
    )
    base = f"http://127.0.0.1:{s.api_port}"
    log = tmp_path / "worker.log"
    samples, disks = no_samples()
    with BrokerStack(s, tmp_path / "logs") as stack:
        ensure_topics(s)
        sender = CollectorSender(s, SOURCE)
        sender.samples.outbox.retry_pause_s = 0.2  # faster re-sends in a test
        sender.samples.outbox.stall_s = 5
        with worker_process(s, log, with_api=True) as proc:
            sender.send_window(samples, disks, WINDOW, WINDOW + 300, unknown=[series(0)])

            os.kill(stack.broker.pid or 0, signal.SIGKILL)
            while stack.broker.running():
                time.sleep(0.05)
            during = [series(n) for n in range(1, 6)]
            done = threading.Event()
            failed: list[BaseException] = []

            def send() -> None:
                try:
                    sender.send_window(samples, disks, WINDOW + 300, WINDOW + 600, unknown=during)
                except BaseException as exc:  # reported by the assertion below
                    failed.append(exc)
                done.set()

            threading.Thread(target=send, daemon=True).start()
            time.sleep(3)
            assert not done.is_set()  # held in the outbox: the broker has not taken them
            assert sender.samples.outbox.pending >= len(during)
            stack.broker.stop()
            stack.broker.start()
            assert done.wait(120) and not failed, failed
            assert sender.samples.outbox.pending == 0
            sender.close()

            def mine() -> list[dict[str, Any]]:
                return [i for i in dead_letters(base) if i["topic"] == f"collector:{SOURCE}"]

            wait_until(lambda: len(mine()) >= 6, "every dead letter stored", proc, log, 180)
            time.sleep(2)  # a duplicate still in flight would land now
            items = mine()
        keys = topic_keys(s.kafka_bootstrap, s.topic_dead_letter)
    assert sorted(i["reason"] for i in items) == sorted(series(n)["reason"] for n in range(6))
    assert sorted(i["offset"] for i in items) == [WINDOW] + [WINDOW + 300] * 5
    assert sender.dead_letters_sent == 6
    # At least once on the topic, each record under a stable key: six keys, one per series.
    assert len(set(keys)) == 6 and len(keys) >= 6
    assert all(k.startswith(f"collector:{SOURCE}/") for k in keys)


def topic_keys(bootstrap: str, topic: str) -> list[str]:
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=3000
    )
    tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or set()]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    keys = [m.key.decode() for m in consumer if m.key]
    consumer.close()
    return keys
