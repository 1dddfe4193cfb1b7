"""A planted Zhongshan-like pool for the scorecard (seed 003): pool 1 of provider cetc,
a calendar fiscal year, a 2 % price cut on 2022-07-01, December 2022 at CPU 47.4 %,
memory 64.6 %, storage 63.8 %, and one rightsizing round with two idle candidates."""

from __future__ import annotations

import datetime as dt

import numpy as np

from cloudtally.analytics.rollups import hours_of_days, recompute_days, recompute_hours
from cloudtally.core.policy import Policy, load_policy
from cloudtally.store import Store
from tests.analytics.plant import disk_samples, epoch, inventory, samples

TZ = "Asia/Shanghai"
POLICY = """
schema: cloudtally.policy/1
name: zhongshan-test
fiscal_year: {start_month: 1, label: end_year}
budgets:
  - {fiscal_year: 2022, programme: 58230000.00}
versions:
  - version: "2021.1"
    effective_from: 2021-01-01
    utilization: {expected_sample_interval_s: 300}
    providers:
      - id: cetc
        tender_discount: 0.55
        pools:
          - id: pool-1
            prices: {vcpu_month: 30, memory_month: 15, storage_performance_month: 0.60,
                     storage_standard_month: 0.60, storage_archive_month: 0.60}
  - version: "2022.1"
    effective_from: 2022-07-01
    utilization: {expected_sample_interval_s: 300}
    providers:
      - id: cetc
        tender_discount: 0.55
        pools:
          - id: pool-1
            prices: {vcpu_month: 29.4, memory_month: 14.7, storage_performance_month: 0.588,
                     storage_standard_month: 0.588, storage_archive_month: 0.588}
"""


def policy() -> Policy:
    return load_policy(POLICY)


def plant_utilization(store: Store, pol: Policy) -> None:
    """Two VMs of pool 1 on 2022-12-05 whose capacity-weighted figures are the seed's."""
    util = pol.versions[-1].utilization
    d0, d1 = dt.date(2022, 12, 5), dt.date(2022, 12, 6)
    h0, h1 = hours_of_days(d0, d1, TZ)
    for vm, vcpu, mem, disk, size in (("p1", 8, "16", "p1d", "100"), ("p2", 2, "4", "p2d", "50")):
        inventory(store, vm, h0 - 86400, bureau="edu", pool="pool-1", provider="cetc",
                  vcpu=vcpu, mem_gb=mem, disks=[(disk, size, "standard")])  # fmt: skip
    ts = np.arange(h0, h1, 300)
    samples(store, "p1", ts, 40.0, 60.0)  # (8×40 + 2×77) / 10 = 47.4
    samples(store, "p2", ts, 77.0, 83.0)  # (16×60 + 4×83) / 20 = 64.6
    hourly = np.arange(h0, h1, 3600) + 600
    disk_samples(store, "p1", "p1d", hourly, 63.8)  # (63.8 + 31.9) / 150 = 63.8 %
    disk_samples(store, "p2", "p2d", hourly, 31.9)
    recompute_hours(store, ["p1", "p2"], h0, h1, utilization=util)
    recompute_days(store, ["p1", "p2"], d0, d1, utilization=util)


def plant_round(store: Store) -> None:
    """Round R1 opened 2022-03-01 lists idle-1 (deleted 19 days later) and idle-2 (kept)."""
    opened = dt.datetime(2022, 3, 1, 2, tzinfo=dt.UTC)
    store.insert("rightsizing_rounds", {
        "round_id": ["R1"], "quarter": ["2022-Q1"], "review_from": [dt.date(2022, 2, 1)],
        "review_to": [dt.date(2022, 2, 15)], "status": ["open"], "opened_by": ["admin"],
        "opened_at": [opened], "closed_by": [""], "closed_at": [None], "previous_round": [""],
        "tariff_version": ["2021.1"], "version": [1],
    })  # fmt: skip
    cols: dict[str, list[object]] = {k: [] for k in (
        "round_id", "kind", "vm_id", "bureau", "system", "pool", "provider", "vcpu", "mem_gb",
        "target_vcpu", "target_mem_gb", "freed_vcpu", "freed_mem_gb", "savings_year",
        "daily_cost_before", "evidence")}  # fmt: skip
    from decimal import Decimal

    for vm in ("idle-1", "idle-2"):
        inventory(store, vm, epoch(2022, 1, 1), bureau="edu", pool="pool-1", provider="cetc")
        row = {"round_id": "R1", "kind": "idle", "vm_id": vm, "bureau": "edu", "system": "S1",
               "pool": "pool-1", "provider": "cetc", "vcpu": 8, "mem_gb": Decimal(16),
               "target_vcpu": 0, "target_mem_gb": Decimal(0), "freed_vcpu": 8,
               "freed_mem_gb": Decimal(16), "savings_year": None,
               "daily_cost_before": Decimal("10.00"), "evidence": "{}"}  # fmt: skip
        for k, v in row.items():
            cols[k].append(v)
    store.insert("rightsizing_round_items", cols)
    inventory(store, "idle-1", epoch(2022, 3, 20), event="deleted", bureau="edu",
              pool="pool-1", provider="cetc", version=2)  # fmt: skip
