"""The ingest sink against the real stores: exact rows, dead letters, redelivery."""

from __future__ import annotations

import numpy as np
import orjson

from cloudtally.core.inventory import Disk, InventoryEvent
from cloudtally.core.samples import encode_batch
from cloudtally.worker.sink import IngestSink, RawMessage

T0 = 1_700_000_400  # a few minutes past an hour boundary


def sample_message(offset: int, vms: list[str], steps: int, *, partition: int = 0) -> RawMessage:
    vm = np.repeat(np.array(vms, dtype=object), steps)
    ts = np.tile(T0 + 600 * np.arange(steps), len(vms))
    cpu = np.linspace(1, 99, len(ts))
    raw = encode_batch(
        "test",
        list(vm),
        ts,
        cpu,
        100 - cpu,
        disks={
            "vm_id": vms,
            "disk_id": ["d0"] * len(vms),
            "ts": [T0] * len(vms),
            "used_gb": [10.0] * len(vms),
        },
    )
    return RawMessage("samples", partition, offset, raw)


def test_mixed_input_keeps_good_rows_and_dead_letters_the_rest(store) -> None:
    good = sample_message(0, ["vm-a", "vm-b"], 12)  # 24 samples over 2 hours each
    doc = orjson.loads(sample_message(1, ["vm-c"], 3).value)
    doc["cpu_pct"][1] = 250  # one bad row in an otherwise good batch
    mixed = RawMessage("samples", 0, 1, orjson.dumps(doc))
    garbage = RawMessage("samples", 1, 0, b"\xff\xfe not json")
    sink = IngestSink(store)

    result = sink.write_samples([good, mixed, garbage])

    assert result.rows == {"samples": 24 + 2, "disk_samples": 3}
    assert store.scalar("SELECT count() FROM samples FINAL") == 26
    assert store.scalar("SELECT count() FROM samples FINAL WHERE vm_id = 'vm-c'") == 2
    reasons = store.rows(
        "SELECT partition, offset, row_index, section, reason, payload_encoding "
        "FROM dead_letters FINAL ORDER BY partition, offset"
    )
    assert reasons[0] == (0, 1, 1, "samples", "cpu_pct above 100", "utf-8")
    assert reasons[1][:4] == (1, 0, -1, "message")
    assert reasons[1][4].startswith("not valid JSON")
    assert reasons[1][5] == "base64"  # invalid UTF-8 is kept byte for byte
    assert [r["reason"] for r in result.dead_letters] == [r[4] for r in reasons]
    progress = store.rows(
        "SELECT partition, first_offset, last_offset, messages, rows_written, rows_rejected "
        "FROM ingest_log ORDER BY partition"
    )
    assert progress == [(0, 0, 1, 2, 24 + 3 + 2, 1), (1, 0, 0, 1, 0, 1)]


def test_redelivered_batch_does_not_double_count(store) -> None:
    msgs = [sample_message(0, ["vm-a", "vm-b"], 6), sample_message(1, ["vm-c"], 6)]
    doc = orjson.loads(msgs[1].value)
    doc["mem_pct"][0] = None
    msgs[1] = RawMessage("samples", 0, 1, orjson.dumps(doc))
    sink = IngestSink(store)
    sink.write_samples(msgs)
    sink.write_samples(msgs)  # a crash before the offset commit replays the batch
    assert store.scalar("SELECT count() FROM samples FINAL") == 12 + 5
    assert store.scalar("SELECT count() FROM disk_samples FINAL") == 3
    assert store.scalar("SELECT count() FROM dead_letters FINAL") == 1


def test_corrected_sample_replaces_the_earlier_value(store) -> None:
    sink = IngestSink(store)
    first = encode_batch("test", ["vm-a"], [T0], [10.0], [20.0])
    again = encode_batch("test", ["vm-a"], [T0], [11.0], [20.0])
    sink.write_samples([RawMessage("samples", 0, 0, first)])
    sink.write_samples([RawMessage("samples", 0, 5, again)])
    assert store.rows("SELECT cpu_pct FROM samples FINAL") == [(11.0,)]


def test_touched_hours_are_queued_once_per_vm_hour(store) -> None:
    IngestSink(store).write_samples([sample_message(0, ["vm-a", "vm-b"], 12)])
    hours = store.rows("SELECT vm_id, toUInt32(hour) FROM rollup_queue ORDER BY vm_id, hour")
    h0 = T0 - T0 % 3600  # T0 is 20 min past the hour; 12 ten-minute steps reach h0 + 2h
    assert hours == [(vm, h0 + 3600 * k) for vm in ("vm-a", "vm-b") for k in range(3)]


def test_inventory_events_and_a_bad_one(store) -> None:
    ev = InventoryEvent(
        event="created",
        vm_id="vm-a",
        ts=T0,
        bureau="edu",
        system="portal",
        pool="A-1",
        provider="A",
        vcpu=4,
        mem_gb="7.5",
        disks=(Disk(disk_id="d0", size_gb="100", tier="archive"),),
    )
    bad = dict(orjson.loads(ev.to_json()))
    del bad["bureau"]
    msgs = [
        RawMessage("inventory", 0, 0, ev.to_json()),
        RawMessage("inventory", 0, 1, orjson.dumps(bad)),
        RawMessage("inventory", 0, 2, None),  # compaction tombstone: ignored
    ]
    result = IngestSink(store).write_inventory(msgs)
    assert result.rows == {"vm_inventory": 1}
    assert [r["reason"] for r in result.dead_letters] == ["bureau: Field required"]
    row = store.dicts("SELECT bureau, vcpu, mem_gb, disk_tiers FROM vm_inventory FINAL")[0]
    assert row["bureau"] == "edu" and row["vcpu"] == 4 and str(row["mem_gb"]) in ("7.5", "7.500")
    assert row["disk_tiers"] == ["archive"]


def test_rows_keep_the_source_of_their_own_message(store) -> None:
    sink = IngestSink(store)
    a = encode_batch("node", ["vm-a"], [T0], [1.0], [2.0])
    b = encode_batch("simulate", ["vm-b", "vm-c"], [T0, T0], [1.0, 1.0], [2.0, 2.0])
    sink.write_samples([RawMessage("samples", 0, 0, a), RawMessage("samples", 0, 1, b)])
    assert store.rows("SELECT vm_id, source FROM samples FINAL ORDER BY vm_id") == [
        ("vm-a", "node"),
        ("vm-b", "simulate"),
        ("vm-c", "simulate"),
    ]


def test_vm_without_disks_is_recorded(store) -> None:
    ev = InventoryEvent(
        event="created",
        vm_id="vm-nodisk",
        ts=T0,
        bureau="edu",
        system="s",
        pool="pool-1",
        provider="provider-a",
        vcpu=1,
        mem_gb=1,
    )
    assert IngestSink(store).write_inventory([RawMessage("inventory", 0, 0, ev.to_json())]).rows
    assert store.rows("SELECT disk_ids, disk_size_gb FROM vm_inventory FINAL") == [([], [])]
