"""Analytics queries on a planted fleet: exactly the planted idle, rightsizing, night-batch
and storage-idle VMs, the seed's pool KPI, and bureau scoping — on both engines."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import pytest

from cloudtally.analytics.queries import (
    find_idle,
    find_rightsizing,
    find_storage_idle,
    pool_kpis,
    utilization,
)
from cloudtally.analytics.rollups import hours_of_days, recompute_days, recompute_hours
from cloudtally.core.idle import UnitPrices, UtilizationPolicy
from cloudtally.store import Store

from .plant import disk_samples, epoch, inventory, profile, samples

POLICY = UtilizationPolicy(expected_sample_interval_s=300)  # 5-minute samples keep tests light
D0, D1 = dt.date(2023, 10, 9), dt.date(2023, 10, 23)  # 14 local days, Mon → Mon
TZ = "Asia/Shanghai"
PRICES = UnitPrices(vcpu_year=Decimal("600"), mem_gb_year=Decimal("150"))


def business(h: np.ndarray) -> np.ndarray:
    return ((h >= 9) & (h < 12)) | ((h >= 14) & (h < 18))


def night(h: np.ndarray) -> np.ndarray:
    return (h < 6) | (h >= 22)


# vm_id -> (bureau, cpu by local hour, mem by local hour, share of samples kept)
FLEET = {
    "idle": ("B1", lambda h: np.full(h.shape, 2.0), lambda h: np.full(h.shape, 3.0), 1.0),
    "busy": ("B1", lambda h: np.full(h.shape, 45.0), lambda h: np.full(h.shape, 60.0), 1.0),
    "spiky": ("B1", lambda h: np.where(h == 3, 12.0, 2.0), lambda h: np.full(h.shape, 3.0), 1.0),
    "nightbatch": (
        "B2",
        lambda h: np.where(business(h), 2.0, np.where(night(h), 15.0, 4.0)),
        lambda h: np.full(h.shape, 10.0),
        1.0,
    ),
    "oversized": ("B2", lambda h: np.full(h.shape, 10.0), lambda h: np.full(h.shape, 12.0), 1.0),
    "gappy-idle": ("B2", lambda h: np.full(h.shape, 1.0), lambda h: np.full(h.shape, 1.0), 0.5),
}


def plant_fleet(store: Store) -> None:
    h0, h1 = hours_of_days(D0, D1, TZ)
    for vm_id, (bureau, cpu_f, mem_f, keep) in FLEET.items():
        inventory(
            store,
            vm_id,
            epoch(2023, 9, 1),
            bureau=bureau,
            system=f"sys-{bureau}",
            vcpu=8,
            mem_gb="16",
            disks=[(f"{vm_id}-d", "100", "standard")],
        )
        ts, cpu = profile(h0, h1, 300, cpu_f)
        _, mem = profile(h0, h1, 300, mem_f)
        if keep < 1:
            kept = (np.arange(len(ts)) % 2) == 0
            ts, cpu, mem = ts[kept], cpu[kept], mem[kept]
        samples(store, vm_id, ts, cpu, mem)
    recompute_hours(store, None, h0, h1, utilization=POLICY)
    recompute_days(store, None, D0, D1, utilization=POLICY)


def test_planted_fleet_candidates(store: Store) -> None:
    plant_fleet(store)
    idle = find_idle(store, D1, policy=POLICY)
    assert [c["vm_id"] for c in idle["items"]] == ["idle"]
    assert idle["window"] == {"start": "2023-10-09", "end": "2023-10-23"}
    ev = idle["items"][0]["evidence"]
    assert ev["cpu_avg"] == 2.0 and ev["mem_max"] == 3.0 and ev["coverage"] == 1.0
    assert idle["items"][0]["savings_year"] is None  # no prices given: no money claimed
    # with prices: reclaiming frees the whole VM, its vCPU and memory at the pool's prices
    priced = find_idle(store, D1, policy=POLICY, prices=lambda _s: PRICES)["items"][0]
    freed = (priced["freed_vcpu"], Decimal(priced["freed_mem_gb"]))
    assert Decimal(priced["savings_year"]) == freed[0] * 600 + freed[1] * 150 > 0

    right = find_rightsizing(store, D0, D1, PRICES, policy=POLICY)
    by_vm = {c["vm_id"]: c for c in right["items"]}
    assert set(by_vm) == {"idle", "spiky", "nightbatch", "oversized"}
    # oversized: daytime p95 used = 10 % of 8 vCPU = 0.8 → ceil(0.8/0.6) = 2 vCPU;
    # memory 12 % of 16 GB = 1.92 GB → 3.2 → 4 GB
    o = by_vm["oversized"]
    assert o["evidence"]["target_vcpu"] == 2 and o["evidence"]["target_mem_gb"] == "4"
    assert (o["freed_vcpu"], o["freed_mem_gb"]) == (6, "12")
    assert o["savings_year"] == "5400.00"  # 6 × 600 + 12 × 150
    # the night-batch VM is sized from its daytime p95 (2 %), not its 15 % nights
    assert by_vm["nightbatch"]["evidence"]["target_vcpu"] == 1
    assert right["totals"]["freed_vcpu"] == sum(c["freed_vcpu"] for c in right["items"])
    # stable: a re-run gives the same list in the same order
    assert find_rightsizing(store, D0, D1, PRICES, policy=POLICY)["items"] == right["items"]
    savings = [Decimal(c["savings_year"]) for c in right["items"]]
    assert savings == sorted(savings, reverse=True)  # biggest savings first


def test_day_night_split_visible_at_a_glance(store: Store) -> None:
    plant_fleet(store)
    res = utilization(store, "vm", D0, D1, filters={"vm_id": "nightbatch"}, policy=POLICY)
    (vm,) = res["items"]
    # the 13:00 hour (4 %) is half business: (7 × 2 + 0.5 × 4) / 7.5
    assert vm["cpu"]["day"] == pytest.approx(16 / 7.5, abs=1e-3)
    assert vm["cpu"]["night"] == pytest.approx(15.0, abs=1e-3)
    assert vm["night_heavy"] is True
    assert vm["bureau"] == "B2" and vm["vcpu"] == 8
    flagged = utilization(store, "vm", D0, D1, policy=POLICY, limit=100)
    assert [v["vm_id"] for v in flagged["items"] if v["night_heavy"]] == ["nightbatch"]
    assert flagged["total"] == 6
    # paging is stable and complete
    page1 = utilization(store, "vm", D0, D1, limit=4, offset=0)["items"]
    page2 = utilization(store, "vm", D0, D1, limit=4, offset=4)["items"]
    assert [v["vm_id"] for v in page1 + page2] == sorted(FLEET)
    # bureau level: capacity-weighted over equal-sized VMs = mean of the VMs' figures
    bureaus = utilization(store, "bureau", D0, D1)["items"]
    assert [b["bureau"] for b in bureaus] == ["B1", "B2"]
    b1 = {v["vm_id"]: v for v in flagged["items"] if v["bureau"] == "B1"}
    assert bureaus[0]["cpu"]["all"] == pytest.approx(
        np.mean([v["cpu"]["all"] for v in b1.values()]), abs=1e-3
    )


def test_bureau_scope_applies_everywhere(store: Store) -> None:
    plant_fleet(store)
    scoped = utilization(store, "vm", D0, D1, bureau_scope="B2")
    assert {v["bureau"] for v in scoped["items"]} == {"B2"} and scoped["total"] == 3
    assert find_idle(store, D1, policy=POLICY, bureau_scope="B2")["items"] == []
    right = find_rightsizing(store, D0, D1, PRICES, policy=POLICY, bureau_scope="B2")
    assert {c["vm_id"] for c in right["items"]} == {"nightbatch", "oversized"}
    assert utilization(store, "vm", D0, D1, bureau_scope="nobody")["total"] == 0
    with pytest.raises(ValueError):
        utilization(store, "vm", D0, D1, filters={"hack": "1"})


def test_pool_kpi_seed_figures(store: Store) -> None:
    # Pool 1, December 2022: two VMs of different size whose capacity-weighted figures are
    # CPU 47.4 %, memory 64.6 %, storage 63.8 % (the seed) → 58.6 %, 0 of 2, 8 of 10.
    d0, d1 = dt.date(2022, 12, 5), dt.date(2022, 12, 6)
    h0, h1 = hours_of_days(d0, d1, TZ)
    inventory(
        store,
        "p1",
        h0 - 86400,
        pool="pool-1",
        vcpu=8,
        mem_gb="16",
        disks=[("p1d", "100", "performance")],
    )
    inventory(
        store,
        "p2",
        h0 - 86400,
        pool="pool-1",
        vcpu=2,
        mem_gb="4",
        disks=[("p2d", "50", "standard")],
    )
    inventory(
        store, "q", h0 - 86400, pool="pool-2", vcpu=4, mem_gb="8", disks=[("qd", "10", "archive")]
    )
    ts = np.arange(h0, h1, 300)
    samples(store, "p1", ts, 40.0, 60.0)  # (8×40 + 2×77) / 10 = 47.4
    samples(store, "p2", ts, 77.0, 83.0)  # (16×60 + 4×83) / 20 = 64.6
    samples(store, "q", ts, 80.0, 80.0)
    hourly = np.arange(h0, h1, 3600) + 600
    disk_samples(store, "p1", "p1d", hourly, 63.8)  # (63.8 + 31.9) / 150 = 63.8 %
    disk_samples(store, "p2", "p2d", hourly, 31.9)
    disk_samples(store, "q", "qd", hourly, 8.0)
    recompute_hours(store, None, h0, h1, utilization=POLICY)
    recompute_days(store, None, d0, d1, utilization=POLICY)
    res = pool_kpis(store, dt.date(2022, 12, 1), policy=POLICY)
    p1, p2 = res["items"]
    assert (p1["pool"], p1["month"]) == ("pool-1", "2022-12")
    assert (p1["cpu_pct"], p1["mem_pct"], p1["storage_pct"]) == (47.4, 64.6, 63.8)
    assert (p1["utilization_pct"], p1["points_2"], p1["points_10"]) == (58.6, 0, 8)
    assert (p2["utilization_pct"], p2["points_2"], p2["points_10"]) == (80.0, 2, 10)
    prov = pool_kpis(store, dt.date(2022, 12, 31), level="provider", policy=POLICY)
    assert [p["provider"] for p in prov["items"]] == ["X"]


def test_storage_idle_two_months(store: Store) -> None:
    d0, d1 = dt.date(2023, 10, 1), dt.date(2023, 12, 1)
    h0, h1 = hours_of_days(d0, d1, TZ)
    disks = [("cold", "500", "archive"), ("warm", "100", "standard")]
    inventory(store, "s", h0 - 86400, bureau="B3", disks=disks)
    daily = np.arange(h0, h1, 86400) + 3 * 3600
    disk_samples(store, "s", "cold", daily, 10.0)  # 2 % of 500 GB
    disk_samples(store, "s", "warm", daily, np.where(daily < h0 + 40 * 86400, 1.0, 30.0))
    recompute_hours(store, ["s"], h0, h1, utilization=POLICY)
    recompute_days(store, ["s"], d0, d1, utilization=POLICY)
    res = find_storage_idle(store, dt.date(2023, 12, 5), policy=POLICY)
    assert res["months"] == ["2023-10", "2023-11"]
    assert [(c["vm_id"], c["disk_id"]) for c in res["items"]] == [("s", "cold")]
    (c,) = res["items"]
    assert c["bureau"] == "B3" and c["freed_storage_gb"] == "500"
    assert [m["used_pct_max"] for m in c["evidence"]["months"]] == [2.0, 2.0]
    assert find_storage_idle(store, dt.date(2023, 12, 5), bureau_scope="B1")["total"] == 0
    # one month later, November + December are needed: December has no evidence
    assert find_storage_idle(store, dt.date(2024, 1, 5), policy=POLICY)["total"] == 0
