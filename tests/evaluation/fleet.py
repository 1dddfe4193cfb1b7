"""A planted fleet for availability: known downtime, a collector outage, a failed window,
a move between bureaus, a VM created and deleted inside the period, a VM never metered.

Times are Asia/Shanghai. The period is 2023-03-30 00:00 → 2023-04-02 00:00 (two March
days, one April day); the collector "prometheus:dc1" beats hourly on two partitions.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import numpy as np

from cloudtally.store import Store

SH = dt.timezone(dt.timedelta(hours=8))
SOURCE = "prometheus:dc1"


def t(m: int, d: int, hh: int = 0, mm: int = 0, y: int = 2023) -> int:
    return int(dt.datetime(y, m, d, hh, mm, tzinfo=SH).timestamp())


S, E = t(3, 30), t(4, 2)
APRIL = t(4, 1)
OUTAGE = (t(3, 31, 2), t(3, 31, 4))  # collector silent: no beats, no samples
FAILED = (t(4, 1, 10), t(4, 1, 11))  # a window whose queries failed (beat with errors)
MOVE = t(3, 31, 12)  # vm-c moves from edu to health

DOWN = {
    "vm-a": [(t(3, 31, 23, 30), t(4, 1, 0, 45))],  # across the month boundary
    "vm-b": [],
    "vm-c": [(t(3, 31, 8), t(3, 31, 8, 20)), (t(4, 1, 3), t(4, 1, 3, 10))],
    "vm-d": [(t(3, 31, 10), t(3, 31, 10, 5))],
    "vm-e": [],
}
JITTER = {"vm-b": [t(3, 30, 12)]}  # one lost scrape: not downtime
EXISTS = {"vm-d": (t(3, 31), t(4, 1))}
VMS: dict[str, dict[str, str]] = {
    "vm-a": {"bureau": "edu", "system": "医保结算", "pool": "pool-1"},
    "vm-b": {"bureau": "edu", "system": "门户", "pool": "pool-1"},
    "vm-c": {"bureau": "edu", "system": "社保查询", "pool": "pool-2"},
    "vm-d": {"bureau": "health", "system": "门户", "pool": "pool-2"},
    "vm-e": {"bureau": "health", "system": "档案", "pool": "pool-2"},  # never metered
}


def _inventory_row(vm: str, ts: int, event: str, bureau: str) -> dict[str, Any]:
    a = VMS[vm]
    return dict(
        vm_id=vm, event_ts=ts, event=event, name=vm, bureau=bureau, system=a["system"],
        pool=a["pool"], provider="provider-a", vcpu=4, mem_gb=Decimal(8), disk_ids=["d0"],
        disk_size_gb=[Decimal(100)], disk_tiers=["standard"], version=1,
    )  # fmt: skip


def plant(store: Store) -> None:
    events = []
    for vm, a in VMS.items():
        start, end = EXISTS.get(vm, (S - 86400, None))
        events.append(_inventory_row(vm, start, "created", a["bureau"]))
        if end is not None:
            events.append(_inventory_row(vm, end, "deleted", a["bureau"]))
    events.append(_inventory_row("vm-c", MOVE, "updated", "health"))
    store.insert("vm_inventory", {k: [e[k] for e in events] for k in events[0]})

    vm_col, ts_col, iv_col = [], [], []
    for vm in VMS:
        if vm == "vm-e":
            continue
        lo, hi = EXISTS.get(vm, (S - 3600, E))
        ts = np.arange(lo, hi, 60, dtype=np.int64)
        keep = ~((ts >= OUTAGE[0]) & (ts < OUTAGE[1]))
        for a, b in DOWN[vm]:
            keep &= ~((ts >= a) & (ts < b))
        for j in JITTER.get(vm, []):
            keep &= ts != j
        ts = ts[keep]
        vm_col += [vm] * len(ts)
        ts_col.append(ts)
        iv_col += [0 if vm == "vm-d" else 60] * len(ts)  # vm-d's batches declare no interval
    n = len(vm_col)
    store.insert(
        "samples",
        {
            "vm_id": np.array(vm_col, dtype=object),
            "ts": np.concatenate(ts_col),
            "cpu_pct": np.full(n, 30.0, dtype=np.float32),
            "mem_pct": np.full(n, 50.0, dtype=np.float32),
            "source": np.full(n, SOURCE, dtype=object),
            "version": np.ones(n, dtype=np.uint64),
            "interval_s": np.array(iv_col, dtype=np.uint32),
        },
    )

    beats: dict[str, list[Any]] = {k: [] for k in (
        "source", "partition", "sent_at", "data_from", "data_until", "samples", "vms",
        "unknown_series", "errors", "received_at", "version",
    )}  # fmt: skip
    for h in range(S - 3600, E, 3600):
        if OUTAGE[0] <= h < OUTAGE[1]:
            continue
        for p in (0, 1):
            for k, v in dict(
                source=SOURCE, partition=p, sent_at=h + 3600 + 5, data_from=h,
                data_until=h + 3540, samples=100, vms=2, unknown_series=0,
                errors=1 if (h == FAILED[0] and p == 0) else 0, received_at=h + 3600 + 6,
                version=1,
            ).items():  # fmt: skip
                beats[k].append(v)
    store.insert("collector_heartbeats", beats)
