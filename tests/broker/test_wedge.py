"""A wedged embedded broker (alive, serving nothing) is noticed, reported and restarted.

SIGSTOP leaves a process "running" to every liveness check while it answers
nothing, as a Tansu whose storage fails or an s3rver stuck on its disk would.
The supervisor's fetch probe must see it, readiness and the metrics must say so
before the restart, and the restart must lose nothing.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from cloudtally.broker.s3 import s3rver_binary
from cloudtally.broker.stack import BrokerStack
from cloudtally.broker.status import BrokerProbe, RestartCollector, SupervisorStatus, status_path
from cloudtally.broker.supervisor import BrokerSupervisor
from cloudtally.broker.topics import ensure_topics
from cloudtally.broker.wedge import FetchProbe
from cloudtally.devtools.clickhouse_server import free_port
from tests.conftest import unavailable

pytestmark = pytest.mark.broker
WEDGE_S = 10.0


@pytest.fixture(autouse=True)
def _need_s3rver() -> None:
    if s3rver_binary() is None:
        unavailable("s3rver missing: run `make tools` (deploy/local/install-s3rver.sh)")


def read_all(bootstrap: str, topic: str, partitions: int, want: int) -> list[bytes]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    tps = [TopicPartition(topic, p) for p in range(partitions)]
    consumer.assign(tps)
    for tp in tps:
        consumer.seek(tp, 0)
    got: list[bytes] = []
    deadline = time.monotonic() + 90
    while len(got) < want and time.monotonic() < deadline:
        for records in consumer.poll(500).values():
            got += [r.value for r in records]
    consumer.close()
    return got


def until_restarted(sup: BrokerSupervisor, name: str, readiness: BrokerProbe) -> list[str]:
    """Run the supervisor until ``name`` restarts; return what readiness said meanwhile."""
    said: list[str] = []
    deadline = time.monotonic() + WEDGE_S * 4 + 60
    while True:
        events = sup.check()
        reason = readiness()
        if reason:
            said.append(reason)
        if any(e.startswith(f"{name} restarted") for e in events):
            return said
        assert time.monotonic() < deadline, f"{name} wedge not noticed; readiness said {said[-3:]}"
        time.sleep(0.3)


def test_stopped_tansu_then_stopped_s3rver_are_noticed_reported_and_restarted(
    settings, tmp_path: Path
) -> None:
    s = settings(
        kafka_bootstrap=f"127.0.0.1:{free_port()}",
        broker_storage="s3",
        broker_s3_port=free_port(),
    )
    said: list[str] = []
    with BrokerStack(s, tmp_path / "logs") as stack:
        ensure_topics(s)
        producer = KafkaProducer(bootstrap_servers=stack.bootstrap, reconnect_backoff_max_ms=500)
        for i in range(30):
            producer.send(s.topic_samples, value=f"m{i}".encode(), partition=i % 2)
        producer.flush()
        producer.close()
        probe = FetchProbe(stack.bootstrap, s.topic_samples, interval_s=1.0, timeout_s=2.5)
        sup = BrokerSupervisor(stack, say=said.append, wedge_after_s=WEDGE_S, probe=probe.start())
        readiness = BrokerProbe(stack.bootstrap, status_path(s.data_dir), ttl_s=0)
        try:
            for _ in range(5):  # healthy: the probe passes, nothing is restarted
                assert sup.check() == []
                time.sleep(0.5)
            assert probe.failing() is None and readiness() is None

            assert stack.broker.pid is not None
            os.kill(stack.broker.pid, signal.SIGSTOP)
            seen = until_restarted(sup, "broker", readiness)
            assert any("supervisor: broker fetch failing" in r for r in seen), seen
            assert any("broker wedged: fetch failing for" in m for m in said)

            assert stack.s3 is not None and stack.s3.pid is not None
            os.kill(stack.s3.pid, signal.SIGSTOP)
            seen = until_restarted(sup, "broker", readiness)  # s3rver first, then Tansu
            assert any("s3rver wedged: does not answer for" in m for m in said)
            assert any(m.startswith("[supervisor] s3rver restarted") for m in said)

            status = SupervisorStatus.read(status_path(s.data_dir))
            assert status is not None
            assert {k: c.wedges for k, c in status.components.items()} == {
                "s3rver": 1,
                "broker": 1,
            }
            for _ in range(40):  # the restarted broker serves again: the probe clears
                sup.check()
                if probe.failing() is None and readiness() is None:
                    break
                time.sleep(0.5)
            assert readiness() is None
            metrics = {
                (m.name, sample.labels.get("component")): sample.value
                for m in RestartCollector(status_path(s.data_dir)).collect()
                for sample in m.samples
            }
            assert metrics[("cloudtally_broker_wedges", "broker")] == 1
            assert metrics[("cloudtally_broker_up", "broker")] == 1
        finally:
            sup.close()
        got = read_all(stack.bootstrap, s.topic_samples, 2, 30)
    assert sorted(got) == sorted(f"m{i}".encode() for i in range(30))
