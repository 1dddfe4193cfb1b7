"""The simulator beats like a real exporter, and its planted pool outage reads as
downtime: simulated fleet → the real Tansu broker → the worker's ingest sink → the
store (both engines) → availability. Before, the simulator sent no beats and every
simulated minute was a metering gap."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

import orjson
import pytest

from cloudtally.collectors.fleet import Fleet
from cloudtally.collectors.simulate import parse_outage, run
from cloudtally.core.heartbeat import is_heartbeat
from cloudtally.core.samples import decode_batch
from cloudtally.evaluation.availability import Scope, report
from cloudtally.policy import current_policy
from cloudtally.settings import Settings
from cloudtally.store import Store
from cloudtally.worker.sink import IngestSink, RawMessage

from .conftest import START
from .test_broker import consume_all

DAY = 86_400
OUTAGE = ("pool-1", START + 10 * 3600, START + 11 * 3600 + 1800)  # 10:00–11:30 local


@pytest.mark.timeout(240)
def test_simulator_beats_and_its_outage_is_downtime(
    broker: str, settings: Callable[..., Settings], store: Store
) -> None:
    s = settings(samples_partitions=3, inventory_partitions=2)
    rep = run(s, seed=5, vms=30, pools=2, bureaus=4, start=START, end=START + DAY,
              interval=300, heartbeats=True, outage=OUTAGE)  # fmt: skip
    records = consume_all(broker, s.topic_samples, rep.messages)
    assert len(records) == rep.messages

    # on every partition the last message is a beat, after the last sample it vouches for
    last_sample: dict[int, int] = defaultdict(int)
    beats = defaultdict(list)
    for r in sorted(records, key=lambda r: (r.partition, r.offset)):
        if is_heartbeat(r.value):
            beat = orjson.loads(r.value)
            assert beat["data_until"] >= last_sample[r.partition], beat
            beats[r.partition].append(beat)
        else:
            batch = decode_batch(r.value, now=START + DAY)
            last_sample[r.partition] = max(last_sample[r.partition], int(batch.samples.ts.max()))
    assert sorted(beats) == [0, 1, 2]
    for p, bs in beats.items():
        assert bs[0]["data_from"] == START and bs[-1]["data_until"] == START + DAY - 300, p
        assert sum(b["samples"] for b in bs) > 0

    # through the worker's sink into the store: the pool's VMs are down for the outage only
    inventory = consume_all(broker, s.topic_inventory, rep.inventory_events)
    sink = IngestSink(store)
    sink.write_inventory([RawMessage(r.topic, r.partition, r.offset, r.value) for r in inventory])
    sink.write_samples([RawMessage(r.topic, r.partition, r.offset, r.value) for r in records])
    fleet = Fleet.build(5, 30, 2, 4, start=START, end=START + DAY)
    hit = set(fleet.plant_outage(*OUTAGE))
    assert hit
    planted_gap = set(fleet.labels["gap"])  # one VM silent 3 h while the collector runs
    doc = report(store, current_policy(None), Scope(START, START + DAY), by="vm")
    # A VM created between two samples is counted down from its creation to its first
    # sample (< one interval): the core's reading of a fresh VM, not the simulator's.
    created = {v.vm_id: v.created for v in fleet.vms}
    down = {
        i["vm_id"]: i
        for i in doc["incidents"]
        if i["vm_id"] not in planted_gap
        and not (i["start"] == created[i["vm_id"]] and i["duration_s"] < 300)
    }
    assert set(down) == hit, [down.get(v) for v in set(down) ^ hit]
    for i in down.values():
        assert (i["start"], i["end"]) == OUTAGE[1:], i
    whole = {r["vm"]: r for r in doc["period"]}
    assert all(whole[v]["gap_s"] == 0 for v in hit), [whole[v] for v in hit]


def test_outage_option_is_checked() -> None:
    assert parse_outage("pool-2,100,200") == ("pool-2", 100, 200)
    for bad in ("pool-2,200,100", "pool-2,100", ",1,2"):
        with pytest.raises(ValueError):
            parse_outage(bad)
