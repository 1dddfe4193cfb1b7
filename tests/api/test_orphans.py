"""Samples for VM ids the inventory does not know: kept as orphans, shown, then adopted."""

from __future__ import annotations

import orjson

from cloudtally.core.inventory import InventoryEvent
from cloudtally.core.samples import encode_batch
from cloudtally.worker.adoption import adopt_announced
from cloudtally.worker.sink import IngestSink, RawMessage
from tests.api.conftest import T0, auth


def orphan_batch(vm: str, n: int) -> RawMessage:
    ts = [T0 + 7200 + 300 * i for i in range(n)]  # two hours after the seeded samples
    return RawMessage(
        "samples", 0, 0, encode_batch("late-agent", [vm] * n, ts, [5.0] * n, [9.0] * n)
    )


def announce(vm: str, ts: int, event: str = "created") -> RawMessage:
    """A VM's inventory event (bureau edu), as a collector of the inventory sends it."""
    ev = InventoryEvent.model_validate(
        {
            "schema": "cloudtally.inventory/1",
            "event": event,
            "vm_id": vm,
            "ts": ts,
            "bureau": "edu",
            "system": "edu-sys",
            "pool": "A-1",
            "provider": "A",
            "vcpu": 2,
            "mem_gb": 4,
        }
    )
    return RawMessage("inventory", 0, 0, ev.to_json())


def test_orphans_are_kept_counted_listed_and_adopted_when_inventory_arrives(api, store) -> None:
    client, tokens = api
    sink = IngestSink(store)
    sink.write_samples([orphan_batch("vm-unknown", 24)])  # 2 hours of 5-minute samples

    admin = auth(tokens["admin"])
    fleet = client.get("/api/v1/fleet", headers=admin).json()
    assert fleet["samples"] == 180 + 24  # stored: raw samples are the truth
    assert fleet["orphan_vms"] == 1 and fleet["orphan_samples"] == 24
    assert fleet["oldest_orphan_ingested"] > 0
    body = client.get("/api/v1/fleet/orphans", headers=admin).json()
    assert body["total"] == 1
    (orphan,) = body["items"]
    assert orphan["vm_id"] == "vm-unknown" and orphan["samples"] == 24
    assert orphan["first_ts"] == T0 + 7200 and orphan["last_ts"] == T0 + 7200 + 300 * 23
    assert client.get("/api/v1/vms/vm-unknown", headers=admin).status_code == 404

    bureau = auth(tokens["bureau:edu"])
    assert "orphan_vms" not in client.get("/api/v1/fleet", headers=bureau).json()
    assert client.get("/api/v1/fleet/orphans", headers=bureau).status_code == 403

    # The inventory arrives late: the VM gets an owner, its sampled hours are queued.
    queued = store.scalar("SELECT count() FROM rollup_queue WHERE vm_id = 'vm-unknown'")
    result = sink.write_inventory([announce("vm-unknown", T0)])
    assert result.touched_hours == 0  # the flush only writes; the leader's step adopts
    assert store.scalar("SELECT count() FROM rollup_queue WHERE vm_id = 'vm-unknown'") == queued
    adopted = adopt_announced(store)
    assert (adopted.sampled_vms, adopted.hours) == (1, 2)
    assert adopt_announced(store).vms == 0  # once
    hours = store.rows(
        "SELECT DISTINCT toInt64(hour) FROM rollup_queue WHERE vm_id = 'vm-unknown' ORDER BY 1"
    )
    assert [h[0] for h in hours] == [T0 + 7200, T0 + 10800]
    assert store.scalar("SELECT count() FROM rollup_queue WHERE vm_id = 'vm-unknown'") > queued
    fleet = client.get("/api/v1/fleet", headers=admin).json()
    assert fleet["orphan_vms"] == 0 and fleet["orphan_samples"] == 0
    assert client.get("/api/v1/fleet/orphans", headers=admin).json()["total"] == 0
    assert (
        orjson.loads(client.get("/api/v1/vms/vm-unknown", headers=admin).content)["bureau"] == "edu"
    )
