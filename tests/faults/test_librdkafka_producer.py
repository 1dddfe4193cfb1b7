"""A librdkafka producer (confluent-kafka from PyPI, bundled librdkafka 2.16) end to end.

The producer is not the project's: JSON batches written by Python's json module
(so a literal NaN / Infinity where a reading failed), an id with a NUL, and a
6 MiB message that is not JSON. Real Tansu → worker process → ClickHouse 18.16.
Good rows are stored exactly once; every bad row and the huge message are
dead-lettered, in the store whole and on the topic with a bounded payload.
"""

from __future__ import annotations

import json
import os

import jsonschema
import pytest

from cloudtally.broker.topics import ensure_topics
from tests.e2e.test_pipeline import (
    DEAD_LETTER_SCHEMA,
    dead_letter_topic,
    wait_until,
    worker_process,
)

pytestmark = [pytest.mark.e2e]
T0 = 1_772_380_800  # 2026-03-02T00:00+08:00


def batches(n_batches: int, rows: int) -> tuple[list[bytes], int, list[tuple[str, int, str]]]:
    """(messages, good rows, planted (section, row, reason))."""
    messages: list[bytes] = []
    planted: list[tuple[str, int, str]] = []
    for b in range(n_batches):
        cpu = [float((b * rows + i) % 97) for i in range(rows)]
        vm = [f"vm-{i:03d}" for i in range(rows)]
        if b % 3 == 0:
            cpu[5] = float("nan")
            planted.append(("samples", 5, "cpu_pct must be a number"))
        if b % 3 == 1:
            cpu[7] = float("inf")
            planted.append(("samples", 7, "cpu_pct must be a number"))
        if b % 5 == 0:
            vm[9] = "vm\x00009"
            planted.append(("samples", 9, "vm_id contains control character U+0000"))
        doc = {
            "schema": "cloudtally.samples/1",
            "source": "librdkafka",
            "vm_id": vm,
            "ts": [T0 + 300 * b] * rows,
            "cpu_pct": cpu,
            "mem_pct": [50.0] * rows,
        }
        messages.append(json.dumps(doc).encode())  # allow_nan=True: Python's default
    return messages, n_batches * rows - len(planted), planted


def test_confluent_kafka_json_batches_end_to_end(broker, settings, server_store, tmp_path) -> None:
    confluent_kafka = pytest.importorskip("confluent_kafka")
    s = settings(derive_enabled=False, dead_letter_topic_max_payload_bytes=32 * 1024)
    ensure_topics(s)
    messages, good, planted = batches(40, 200)
    huge = b"\xff" + os.urandom(6 * 1024 * 1024)
    producer = confluent_kafka.Producer(
        {
            "bootstrap.servers": s.kafka_bootstrap,
            "linger.ms": 20,
            "message.max.bytes": 8 * 1024 * 1024,
            "acks": "all",
        }
    )
    errors: list[str] = []

    def delivered(err, _msg) -> None:
        if err is not None:
            errors.append(str(err))

    for i, value in enumerate(messages):
        producer.produce(s.topic_samples, value=value, key=f"b{i}".encode(), on_delivery=delivered)
    producer.produce(s.topic_samples, value=huge, key=b"huge", on_delivery=delivered)
    assert producer.flush(60) == 0 and not errors, errors

    log = tmp_path / "worker.log"
    store = server_store
    dead = len(planted) + 1
    with worker_process(s, log, with_api=False) as proc:
        wait_until(
            lambda: (
                store.scalar("SELECT count() FROM samples FINAL") == good
                and store.scalar("SELECT count() FROM dead_letters FINAL") == dead
            ),
            "every good row and dead letter",
            proc,
            log,
            timeout=180,
        )
        records = dead_letter_topic(s)
        assert proc.poll() is None, "the worker crashed on the huge message"
    assert store.scalar("SELECT uniqExact(vm_id, ts) FROM samples") == good
    got = sorted(
        (r[0], r[1], r[2])
        for r in store.rows(
            "SELECT section, row_index, reason FROM dead_letters FINAL WHERE section != 'message'"
        )
    )
    assert got == sorted(planted)
    assert store.rows(
        "SELECT message_bytes, payload_bytes, length(payload) > 8000000 FROM dead_letters FINAL "
        "WHERE section = 'message'"
    ) == [(len(huge), len(huge), 1)]
    assert len(records) == dead and len({r["id"] for r in records}) == dead
    for r in records:
        jsonschema.validate(r, DEAD_LETTER_SCHEMA)
    (big,) = [r for r in records if r["section"] == "message"]
    assert big["payload_truncated"] and big["message_bytes"] == len(huge)
    assert len(json.dumps(big)) < 64 * 1024
