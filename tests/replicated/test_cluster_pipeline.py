"""Cluster mode on the replicated store, end to end, with a replica killed mid-ingest.

Simulator → Tansu → a real worker process on the replicated store (both
replicas in its URL); the replica it uses is killed with ``kill -9`` while it
ingests, more data is produced while it is down, then it comes back. An API
process on the replicated store answers meanwhile. Then: every sample once on
*each* replica (queried directly), and rollups and current bill lines on each
replica identical to a fault-free run of the same messages — read back from the
topics and put through the same sink and derivation steps on a plain server.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from typing import Any

import pytest

from cloudtally.billing.rate import current_filter
from cloudtally.collectors.simulate import run
from cloudtally.devtools.clickhouse_server import free_port
from cloudtally.settings import Settings
from cloudtally.store import Store
from cloudtally.worker.derive import RATING, watermark
from tests.e2e.test_pipeline import hourly_measures, rollups_caught_up, wait_until, worker_process
from tests.replicated.conftest import on_replica

pytestmark = [pytest.mark.server, pytest.mark.replicated, pytest.mark.e2e]
START, MID, END = (
    "2026-03-02T00:00:00+08:00",
    "2026-03-02T12:00:00+08:00",
    "2026-03-03T00:00:00+08:00",
)


def rated_up(store: Store) -> bool:
    """Rollups caught up and the rating step has covered what they computed."""
    head = store.scalar("SELECT max(version) FROM rollup_queue") or 0
    return rollups_caught_up(store) and watermark(store, RATING) >= head


def bill_lines(store: Store) -> list[tuple[Any, ...]]:
    """The current bill lines, every figure but the run id and row version."""
    return store.rows(
        "SELECT vm_id, day, resource, tariff_version, quantity, unit_price, list_amount, "
        "after_discount, after_cut, adjustments, utilization_basis, hours, unmetered_hours "
        f"FROM bill_lines FINAL WHERE {current_filter()} ORDER BY vm_id, day, resource",
        {"d0": "2026-03-01", "d1": "2026-03-05"},
    )


def reference_run(settings: Settings, store: Store) -> None:
    """The fault-free run: every message of the topics, through the sink and the leader's
    derivation steps in this process, on a single server."""
    from kafka import KafkaConsumer, TopicPartition

    from cloudtally.policy import current_policy
    from cloudtally.worker.derive import Derivation
    from cloudtally.worker.sink import IngestSink, RawMessage

    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        enable_auto_commit=False,
        consumer_timeout_ms=3000,
    )
    messages: dict[str, list[RawMessage]] = {}
    for topic in (settings.topic_inventory, settings.topic_samples):
        tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        messages[topic] = [RawMessage(m.topic, m.partition, m.offset, m.value) for m in consumer]
    consumer.close()
    sink = IngestSink(store)
    sink.write_inventory(messages[settings.topic_inventory])
    samples = messages[settings.topic_samples]
    for i in range(0, len(samples), 50):
        sink.write_samples(samples[i : i + 50])
    derivation = Derivation(store, current_policy(settings.policy_file))
    derivation.rollup()
    derivation.rate()


def api_fleet(port: int) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/fleet", timeout=10) as r:
            return dict(json.loads(r.read()))
    except OSError:
        return None


@pytest.mark.timeout(600)  # a loaded 2-core machine; typically well under half of it
def test_replica_killed_mid_ingest_loses_nothing_and_bills_as_a_fault_free_run(
    broker,
    settings,
    clickhouse_server,
    server_store,
    replicated_cluster,
    replicated_store,
    tmp_path,
    test_id,
) -> None:
    timing = dict(rollup_interval_s=1.0, rating_interval_s=2.0, analytics_interval_s=3600.0)
    common = dict(seed=11, vms=100, pools=2, bureaus=6, interval=300, rows_per_message=100)
    s_rep = settings(
        mode="cluster",
        store_url=replicated_cluster.url(replicated_store.database),
        database=replicated_store.database,
        consumer_group=f"replicated-{test_id}",
        take_max_messages=4,  # many small flushes: the kill lands mid-stream
        api_port=free_port(),
        **timing,
    )
    first = run(s_rep, start=START, end=MID, **common)
    api_env = {**os.environ, **s_rep.as_env(), "CLOUDTALLY_API_AUTH": "false"}
    api_log = (tmp_path / "api.log").open("ab")
    api = subprocess.Popen(
        [sys.executable, "-m", "cloudtally.cli", "api"],
        env=api_env,
        stdout=api_log,
        stderr=subprocess.STDOUT,
    )
    rep_log = tmp_path / "worker.log"
    try:
        with worker_process(s_rep, rep_log, with_api=False) as rep:
            wait_until(
                lambda: (replicated_store.scalar("SELECT count() FROM samples") or 0) > 2_000,
                "some samples in the replicated store",
                rep,
                rep_log,
            )
            replicated_cluster.kill(0)  # the replica every process uses
            down_at = time.monotonic()
            # Keep ingesting: the second half is produced while replica 1 is dead.
            second = run(s_rep, start=MID, end=END, **common)
            good = first.good_samples + second.good_samples
            # The API answers from the surviving replica.
            wait_until(
                lambda: api_fleet(s_rep.api_port) is not None, "the API", api, tmp_path / "api.log"
            )
            during = api_fleet(s_rep.api_port)
            assert during is not None and 0 < during["samples"] <= good
            time.sleep(max(0.0, 5 - (time.monotonic() - down_at)))
            replicated_cluster.restart(0)
            wait_until(
                lambda: replicated_store.scalar("SELECT count() FROM samples FINAL") == good,
                "every sample in the replicated store",
                rep,
                rep_log,
                timeout=150,
            )
            wait_until(lambda: rated_up(replicated_store), "rollups and rating", rep, rep_log)
            after = api_fleet(s_rep.api_port)
            assert after is not None and after["samples"] == good
    finally:
        api.send_signal(signal.SIGTERM)
        api.wait(30)
        api_log.close()
    assert rep.returncode is not None and "moving to" in rep_log.read_text()  # it failed over
    replicated_cluster.wait_in_sync(replicated_store.database, timeout_s=120)

    reference_run(s_rep, server_store)
    assert server_store.scalar("SELECT count() FROM samples FINAL") == good
    reference_hours, reference_bills = hourly_measures(server_store), bill_lines(server_store)
    assert reference_hours and reference_bills
    db = replicated_store.database
    for i in range(2):
        with on_replica(replicated_cluster, i, db) as one:
            assert one.scalar("SELECT count() FROM samples FINAL") == good, f"replica {i + 1}"
            assert one.scalar("SELECT uniqExact(vm_id, ts) FROM samples") == good
            assert one.scalar("SELECT count() FROM disk_samples FINAL") == (
                first.good_disk_samples + second.good_disk_samples
            )
            assert hourly_measures(one) == reference_hours, f"rollups on replica {i + 1}"
            assert bill_lines(one) == reference_bills, f"bill lines on replica {i + 1}"
    with on_replica(replicated_cluster, 0, db) as r1:
        r1.execute("OPTIMIZE TABLE samples FINAL")  # replicated: merges on both
    replicated_cluster.wait_in_sync(db)
    for i in range(2):
        with on_replica(replicated_cluster, i, db) as one:
            assert one.scalar("SELECT count() FROM samples") == good  # raw rows, once each
