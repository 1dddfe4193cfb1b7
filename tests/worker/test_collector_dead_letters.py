"""Collectors' dead letters (series of VMs not in inventory) reach GET /ingest/dead-letters.

A real CollectorSender (the way out of the Prometheus and scrape collectors) sends
windows with unknown series to Tansu; a real worker process stores them. A window
re-sent (the outbox after a broker restart) stays one row per series, a second
series in the same window is its own row, the worker's own rejects are not
stored twice, and a stray non-record message on the topic hurts nothing.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from kafka import KafkaProducer
from tests.e2e.test_pipeline import wait_until, worker_process

from cloudtally.broker.topics import ensure_topics
from cloudtally.collectors.sender import CollectorSender
from cloudtally.core.samples import DiskColumns, SampleColumns
from cloudtally.devtools.clickhouse_server import free_port

pytestmark = pytest.mark.e2e
WINDOW = 1_772_409_600  # 2026-03-02T00:00Z


def no_samples() -> tuple[SampleColumns, DiskColumns]:
    empty = np.array([], dtype=object)
    ints = np.array([], dtype=np.int64)
    return (
        SampleColumns(empty, ints, np.array([], np.float32), np.array([], np.float32)),
        DiskColumns(empty, empty, ints, np.array([], np.float64)),
    )


def dead_letters(base: str) -> list[dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"{base}/api/v1/ingest/dead-letters?limit=100", timeout=5) as r:
            return list(json.loads(r.read())["items"])
    except OSError:
        return []


def test_unknown_vm_series_from_a_collector_are_listed_once_each(
    broker, settings, tmp_path: Path
) -> None:
    s = settings(store_url=f"chdb://{tmp_path / 'chdb'}", api_port=free_port())
    ensure_topics(s)
    base = f"http://127.0.0.1:{s.api_port}"
    series_a = {
        "reason": "vm_id 'vm-ghost-1' is not in inventory",
        "labels": {"__name__": "vm_cpu_usage", "vm_id": "vm-ghost-1", "instance": "10.0.0.9:9100"},
        "metrics": ["cpu"],
        "points": 4,
    }
    series_b = {"reason": "series has no 'vm_id' label matching the VM id", "labels": {"job": "x"}}
    sender = CollectorSender(s, "prometheus-hainan")
    samples, disks = no_samples()
    log = tmp_path / "worker.log"
    with worker_process(s, log, with_api=True) as proc:
        sender.send_window(samples, disks, WINDOW, WINDOW + 300, unknown=[series_a, series_b])
        sender.send_window(samples, disks, WINDOW, WINDOW + 300, unknown=[series_a])  # re-sent
        stray = KafkaProducer(bootstrap_servers=s.kafka_bootstrap)
        stray.send(s.topic_dead_letter, value=b"not json at all").get(30)
        stray.send(s.topic_samples, value=b"\x00garbage").get(30)  # the worker's own reject
        stray.close()
        sender.close()

        def listed() -> bool:
            items = dead_letters(base)
            return len([i for i in items if i["topic"].startswith("collector:")]) >= 2 and any(
                i["topic"] == s.topic_samples for i in items
            )

        wait_until(listed, "collector dead letters in the API", proc, log)
        wait_until(  # the re-sent window and the stray message have been consumed too
            lambda: _progress(base, s.topic_dead_letter) >= 5, "dead-letter topic read", proc, log
        )
        items = dead_letters(base)
    mine = [i for i in items if i["topic"] == "collector:prometheus-hainan"]
    assert sorted(i["reason"] for i in mine) == sorted([series_a["reason"], series_b["reason"]])
    assert all(i["offset"] == WINDOW and i["section"] == "samples" for i in mine)
    ghost = next(i for i in mine if "ghost" in i["reason"])
    assert json.loads(ghost["payload"])["labels"]["instance"] == "10.0.0.9:9100"
    own = [i for i in items if i["topic"] == s.topic_samples]
    assert len(own) == 1  # stored by the sample agent, not again from the topic
    assert len(items) == 3


def _progress(base: str, topic: str) -> int:
    """Messages of ``topic`` the worker has flushed (GET /ingest/progress)."""
    try:
        with urllib.request.urlopen(f"{base}/api/v1/ingest/progress", timeout=5) as r:
            rows = json.loads(r.read())
    except OSError:
        return 0
    return sum(int(x["messages"]) for x in rows if x["topic"] == topic)
