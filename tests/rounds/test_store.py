"""Rounds in the store on both engines: open → decide → work order → verify."""

from __future__ import annotations

import datetime as dt
import time
from decimal import Decimal

import pytest

from cloudtally.core.access import Principal
from cloudtally.core.idle import UnitPrices
from cloudtally.queries import inventory as inventory_queries
from cloudtally.queries.inventory import get_vm
from cloudtally.rounds import store as rounds
from tests.analytics.plant import inventory
from tests.api.fleet import D0, D1, plant, policy

ADMIN = Principal("admin", "admin")
HEALTH = Principal("bureau:health", "bureau", "health")
EDU = Principal("bureau:edu", "bureau", "edu")
PRICES = UnitPrices(vcpu_year=Decimal("600"), mem_gb_year=Decimal("200"))


def test_round_lifecycle(store) -> None:
    pol = policy()
    plant(store, pol)
    r1 = rounds.open_round(store, pol, ADMIN, D0, D1, quarter="2023-Q4", prices=lambda _s: PRICES)
    all_items = rounds.items(store, r1)
    kinds = {(i["kind"], i["vm_id"]) for i in all_items}
    assert ("idle", "edu-idle") in kinds and ("idle", "health-idle") in kinds
    assert ("rightsizing", "health-oversized") in kinds
    assert not any(k == "rightsizing" and vm.endswith("-idle") for k, vm in kinds)  # idle wins
    oversized = next(i for i in all_items if i["vm_id"] == "health-oversized")
    assert oversized["vcpu"] == 8 and 0 < oversized["target_vcpu"] < 8
    assert oversized["daily_cost_before"] > 0 and oversized["savings_year"] > 0
    assert {i["bureau"] for i in rounds.items(store, r1, bureau="health")} == {"health"}
    # Idle evidence has no size: the item carries the inventory's (read in bulk).
    for item in (i for i in all_items if i["kind"] == "idle"):
        vm = get_vm(store, item["vm_id"])
        assert vm and item["vcpu"] == vm["vcpu"] > 0, (item, vm)
        assert item["mem_gb"] == Decimal(str(vm["mem_gb"])) > 0, (item, vm)

    with pytest.raises(ValueError, match="reason"):
        rounds.decide(store, r1, "rightsizing", "health-oversized", "declined", " ", HEALTH)
    with pytest.raises(ValueError, match="no item"):  # another bureau's item
        rounds.decide(store, r1, "idle", "edu-idle", "accepted", "", HEALTH)
    rounds.decide(store, r1, "idle", "health-idle", "declined", "还在用", HEALTH)
    time.sleep(1.1)  # decided_at has second resolution; the later decision wins by time
    rounds.decide(store, r1, "idle", "health-idle", "accepted", "改主意了", HEALTH)
    rounds.decide(store, r1, "rightsizing", "health-oversized", "declined", "高峰", HEALTH)
    rounds.decide(store, r1, "idle", "edu-idle", "accepted", "", EDU)
    h = {i["vm_id"]: i for i in rounds.items(store, r1, bureau="health")}
    assert h["health-idle"]["decision"] == "accepted" and h["health-idle"]["reason"] == "改主意了"
    assert h["health-idle"]["decided_by"] == "bureau:health"
    order = rounds.work_order(store, r1)
    assert [i["vm_id"] for i in order] == ["edu-idle", "health-idle"]

    inventory(
        store, "health-idle", int(time.time()), event="deleted", bureau="health",
        system="health-sys", pool="pool-3", provider="provider-b", vcpu=8, mem_gb="16",
    )  # fmt: skip
    r2 = rounds.open_round(store, pol, ADMIN, D0, D1, quarter="2024-Q1", prices=lambda _s: PRICES)
    listed = {r["round_id"]: r for r in rounds.list_rounds(store)}
    assert listed[r1]["status"] == "closed" and listed[r2]["previous_round"] == r1
    with pytest.raises(ValueError, match="closed"):
        rounds.decide(store, r1, "idle", "edu-idle", "declined", "x", EDU)
    check = rounds.verify(store, r1, dt.date(2023, 10, 23))
    by_vm = {i["vm_id"]: i for i in check["items"]}
    assert by_vm["health-idle"]["implementation"] == "reclaimed"
    assert by_vm["edu-idle"]["implementation"] == "not_done"
    daily = Decimal(by_vm["health-idle"]["daily_before"])
    assert Decimal(by_vm["health-idle"]["saved_month"]) == daily * 30
    assert check["total"]["implemented"] == 1
    assert check["total"]["saved_month"] == daily * 30
    mine = rounds.verify(store, r1, dt.date(2023, 10, 23), bureau="edu")
    assert [i["vm_id"] for i in mine["items"]] == ["edu-idle"]


def test_bulk_reads_equal_one_vm_at_a_time(store, monkeypatch) -> None:
    """vm_sizes and own_views (a round's bulk reads) say what get_vm says of each VM, with
    a short id list inline and a long one spilled to the store as data."""
    from cloudtally.store import idsets

    pol = policy()
    plant(store, pol)
    moved = {"system": "edu-sys", "pool": "pool-3", "provider": "provider-b"}
    inventory(store, "health-idle", int(time.time()), event="updated", bureau="edu",
              vcpu=2, mem_gb="4", **moved)  # fmt: skip
    history = store.rows("SELECT DISTINCT vm_id, bureau FROM vm_inventory")
    ids = sorted({str(v) for v, _ in history})
    pairs = [(str(v), str(b)) for v, b in history] + [("health-idle", "nobody"), ("no-vm", "edu")]
    for spill_over in (10_000, 1):
        monkeypatch.setattr(idsets, "SPILL_ITEMS", spill_over)
        sizes = inventory_queries.vm_sizes(store, [*ids, "no-vm"])
        assert set(sizes) == set(ids)
        for v in ids:
            vm = get_vm(store, v)
            assert vm and sizes[v] == (vm["vcpu"], vm["mem_gb"]), (v, sizes[v], vm)
        views = inventory_queries.own_views(store, pairs)
        assert views[("health-idle", "nobody")] is None and views[("no-vm", "edu")] is None
        for v, b in pairs:
            one = get_vm(store, v, bureau=b)
            assert views[(v, b)] == one, (v, b)
    left = views[("health-idle", "health")]  # the former owner's view, as the VM left it
    assert left and left["bureau"] == "health" and left["ownership"][-1]["to"] is not None
    assert views[("health-idle", "edu")]["vcpu"] == 2
