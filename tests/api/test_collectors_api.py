"""Collector health and allocation mismatches through the API, scoped by role."""

from __future__ import annotations

from cloudtally.store import Store
from tests.api.conftest import T0, auth, seed_two_bureaus
from tests.collectors.test_allocation import _observe


def test_mismatches_and_collector_sources_by_role(api, store: Store) -> None:
    client, tokens = api
    seed_two_bureaus(store)  # every VM: 4 vCPU, 8 GB
    _observe(store, ["vm-edu-1"], [T0 + 3600, T0 + 7200], 2, 7.9)
    _observe(store, ["vm-health-1"], [T0 + 3600], 4, 7.9)
    url = "/api/v1/utilization/allocation-mismatches"
    admin = client.get(url, headers=auth(tokens["admin"]))
    assert admin.status_code == 200, admin.text
    items = admin.json()
    assert [(m["vm_id"], m["resource"], m["allocated"], m["observed"]) for m in items] == [
        ("vm-edu-1", "vcpu", "4", "2")  # exact decimals are strings in this API
    ]
    assert items[0]["observations"] == 2 and items[0]["direction"] == "below"
    assert items[0]["first_seen"] == T0 + 3600 and items[0]["sources"] == ["prometheus:dc1"]
    edu = client.get(url, headers=auth(tokens["bureau:edu"])).json()
    health = client.get(url, headers=auth(tokens["bureau:health"])).json()
    assert len(edu) == 1 and health == []

    sources = client.get("/api/v1/collectors", headers=auth(tokens["auditor"]))
    assert sources.status_code == 200, sources.text
    [src] = sources.json()
    # two beats at T0+1h with one key (a redelivery, to the store) count once
    assert src["source"] == "prometheus:dc1" and src["beats"] == 2
    beats = client.get(
        "/api/v1/collectors/prometheus:dc1/heartbeats",
        params={"from": "2026-01-01T00:00:00Z", "to": T0 + 7201},
        headers=auth(tokens["admin"]),
    ).json()
    assert [b["sent_at"] for b in beats][-1].startswith("2026-01-01T02:00")
    denied = client.get("/api/v1/collectors", headers=auth(tokens["bureau:edu"]))
    assert denied.status_code == 403


def test_embedded_collectors_read_their_watermark_through_the_api(api, store: Store) -> None:
    """Embedded mode: the worker owns chDB, so a collector asks these routes instead."""
    from cloudtally.collectors.storeview import ApiStoreView
    from cloudtally.inventory.ledger import current_inventory

    client, tokens = api
    seed_two_bureaus(store)
    _observe(store, ["vm-edu-1"], [T0 + 3600, T0 + 7200], 4, 8)

    class ViaTestClient(ApiStoreView):
        def _get(self, path: str) -> object:
            r = client.get(path, headers=auth(self.token))
            assert r.status_code == 200, r.text
            return r.json()

    view = ViaTestClient("http://testserver", tokens["auditor"])
    assert view.watermark("prometheus:dc1", [0]) == T0 + 7200
    assert view.watermark("prometheus:dc1", [0, 1]) is None  # partition 1 has no beat yet
    assert view.known_vm_ids() == {"vm-edu-1", "vm-edu-2", "vm-health-1"}
    current = current_inventory(view.current_vms())
    assert current["vm-edu-1"].vcpu == 4 and current["vm-edu-1"].bureau == "edu"
