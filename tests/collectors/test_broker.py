"""Produce a simulated fleet into a real Tansu broker and read every message back."""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from kafka import KafkaConsumer, TopicPartition

from cloudtally.collectors.badinput import ARROW_MESSAGE_KINDS, MESSAGE_KINDS
from cloudtally.collectors.fleet import Fleet
from cloudtally.collectors.simulate import run
from cloudtally.core.inventory import InventoryRejected, decode_event
from cloudtally.core.samples import BatchRejected, decode_batch, partition_for
from cloudtally.settings import Settings

from .conftest import START
from .test_messages import validator


def consume_all(bootstrap: str, topic: str, expected: int, timeout_s: float = 30.0) -> list[Any]:
    """Every record of ``topic`` from the beginning (counts, not end offsets: Tansu's
    ListOffsets is wrong, fetch is right)."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        consumer_timeout_ms=1000,
        max_partition_fetch_bytes=32 << 20,
        fetch_max_bytes=64 << 20,
    )
    try:
        parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        records: list[Any] = []
        deadline = time.monotonic() + timeout_s
        while len(records) < expected and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500, max_records=10_000).values():
                records.extend(batch)
        # nothing more than expected
        records.extend(r for b in consumer.poll(timeout_ms=300).values() for r in b)
        return records
    finally:
        consumer.close()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("wire_format", ["json", "arrow"])
def test_simulate_into_the_broker_and_read_back(
    broker: str, settings: Callable[..., Settings], wire_format: str
) -> None:
    kinds = ARROW_MESSAGE_KINDS if wire_format == "arrow" else MESSAGE_KINDS
    s = settings(samples_partitions=3, inventory_partitions=2)
    report = run(
        s,
        seed=21,
        vms=40,
        pools=2,
        bureaus=6,
        start=START,
        end=START + 86400,
        interval=300,
        bad_ratio=0.002,
        rows_per_message=500,
        wire_format=wire_format,
    )
    assert report.bad_rows and len(report.bad_messages) == 4
    assert report.bad_inventory_events == 1

    # ---- samples: every message decodes as planned, one VM per partition, in order
    records = consume_all(broker, s.topic_samples, report.messages)
    assert len(records) == report.messages
    v = validator("samples")
    now = int(time.time())
    good_keys: set[tuple[str, int]] = set()
    disk_keys: set[tuple[str, str, int]] = set()
    last_ts: dict[str, int] = {}
    rejects: Counter[tuple[int, str, int, str]] = Counter()
    bad_msgs: Counter[tuple[int, str]] = Counter()
    for r in sorted(records, key=lambda r: (r.partition, r.offset)):
        try:
            batch = decode_batch(r.value, now=now)
        except BatchRejected as exc:
            bad_msgs[(r.partition, str(exc))] += 1
            continue
        assert r.value[:1] == (b"{" if wire_format == "json" else b"\xff")
        if not batch.rejects and wire_format == "json":
            v.validate(orjson.loads(r.value))
        for x in batch.rejects:
            rejects[(r.partition, x.section, x.index, x.reason)] += 1
        for vm_id, ts in zip(batch.samples.vm_id, batch.samples.ts.tolist(), strict=True):
            assert partition_for(vm_id, 3) == r.partition, "a VM's samples stay on one partition"
            assert ts > last_ts.get(vm_id, 0), "and in time order"
            last_ts[vm_id] = ts
            good_keys.add((vm_id, ts))
        for vm_id, disk_id, ts in zip(
            batch.disks.vm_id, batch.disks.disk_id, batch.disks.ts.tolist(), strict=True
        ):
            assert partition_for(vm_id, 3) == r.partition
            disk_keys.add((vm_id, disk_id, ts))
    assert len(good_keys) == report.good_samples
    assert len(disk_keys) == report.good_disk_samples
    assert report.samples_sent + report.disk_samples_sent == (
        report.good_samples + report.good_disk_samples + len(report.bad_rows)
    )
    planted = Counter((p.partition, p.section, p.row_index) for p in report.bad_rows)
    assert Counter(k[:3] for k in rejects.elements()) == planted
    for p in report.bad_rows:
        assert any(
            k[:3] == (p.partition, p.section, p.row_index) and k[3].startswith(p.reason)
            for k in rejects
        )
    observed = Counter(
        (p, next(prefix for prefix in kinds.values() if reason.startswith(prefix)))
        for p, reason in bad_msgs.elements()
    )
    assert observed == Counter((m.partition, m.reason) for m in report.bad_messages)
    assert {m.kind for m in report.bad_messages} == set(kinds)
    assert set(last_ts) == {vm for vm, _ in good_keys}

    # ---- inventory: keyed by vm_id, schema-valid, one planted bad event
    inv = consume_all(broker, s.topic_inventory, report.inventory_events + 1)
    assert len(inv) == report.inventory_events + 1
    iv = validator("inventory")
    bad = 0
    for r in inv:
        try:
            event = decode_event(r.value)
        except InventoryRejected as exc:
            assert str(exc).startswith("bureau")
            assert not iv.is_valid(orjson.loads(r.value))
            bad += 1
            continue
        iv.validate(orjson.loads(r.value))
        assert r.key == event.vm_id.encode()
    assert bad == 1
    per_vm: defaultdict[bytes, list[int]] = defaultdict(list)
    for r in inv:
        per_vm[r.key].append(r.partition)
    assert all(len(set(p)) == 1 for p in per_vm.values()), "one key, one partition"
    assert set(report.labels["idle_portal"]) <= {k.decode() for k in per_vm}


@pytest.mark.timeout(60)
def test_realtime_follows_the_wall_clock(broker: str, settings: Callable[..., Settings]) -> None:
    import threading

    s = settings()
    end = int(time.time())
    stop = threading.Event()
    timer = threading.Timer(2.5, stop.set)
    timer.start()
    report = run(
        s,
        seed=2,
        vms=10,
        pools=1,
        bureaus=2,
        start=end - 60,
        end=end,
        interval=1,
        realtime=True,
        stop=stop,
    )
    timer.cancel()
    assert end + 1 <= report.end <= int(time.time()) + 1
    fleet = Fleet.build(2, 10, 1, 2, start=end - 60, end=end)
    expect = sum(len(c.samples) for c in fleet.samples(end - 60, report.end, 1))
    assert report.good_samples == expect > 0
    records = consume_all(broker, s.topic_samples, report.messages)
    now = int(time.time())
    last = max(int(decode_batch(r.value, now=now).samples.ts.max()) for r in records)
    assert last == report.end - 1


@pytest.mark.timeout(60)
def test_node_collector_sends_this_host(broker: str, settings: Callable[..., Settings]) -> None:
    from cloudtally.collectors.node import run_cli

    s = settings()
    run_cli(s, vm_id="node-under-test", interval=0.2, count=2)
    inv = consume_all(broker, s.topic_inventory, 1)
    assert [decode_event(r.value).vm_id for r in inv] == ["node-under-test"]
    recs = consume_all(broker, s.topic_samples, 2)
    batches = [decode_batch(r.value, now=int(time.time())) for r in recs]
    assert [len(b.samples) for b in batches] == [1, 1]
    assert all(b.source == "node" and not b.rejects and len(b.disks) >= 1 for b in batches)
