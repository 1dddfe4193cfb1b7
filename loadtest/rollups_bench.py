"""Rollup speed: one local day of 1-minute samples for N VMs, recomputed in one call each.

    .venv/bin/python loadtest/rollups_bench.py --vms 1000 --store chdb:///tmp/rollbench

Reports samples/s for recompute_hours (usage_hourly) and VM-days/s for recompute_days.
Target (issue 3): a day of 15,000 VMs (21.6 M samples) well under a minute on chDB.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import time
from decimal import Decimal

import numpy as np

from cloudtally.analytics.rollups import hours_of_days, recompute_days, recompute_hours
from cloudtally.store import open_store
from cloudtally.store.migrate import migrate


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--vms", type=int, default=1000)
    ap.add_argument("--store", default="chdb:///tmp/rollbench")
    ap.add_argument("--database", default="rollbench")
    args = ap.parse_args()
    if args.store.startswith("chdb://"):
        shutil.rmtree(args.store.removeprefix("chdb://"), ignore_errors=True)
    store = open_store(args.store, database=args.database)
    if store.engine == "server":
        store.execute(f"DROP DATABASE IF EXISTS {args.database}")
        store.close()
        store = open_store(args.store, database=args.database)
    migrate(store)
    day = dt.date(2023, 10, 9)
    h0, h1 = hours_of_days(day, day + dt.timedelta(days=1), "Asia/Shanghai")
    n = args.vms
    ids = np.array([f"vm-{i:05d}" for i in range(n)], dtype=object)
    store.insert(
        "vm_inventory",
        {
            "vm_id": ids,
            "event_ts": np.full(n, h0 - 86400, dtype=np.int64),
            "event": ["created"] * n,
            "name": ids,
            "bureau": [f"b{i % 300}" for i in range(n)],
            "system": [f"s{i % 1000}" for i in range(n)],
            "pool": [f"p{i % 3}" for i in range(n)],
            "provider": [f"x{i % 3}" for i in range(n)],
            "vcpu": np.full(n, 8, dtype=np.uint16),
            "mem_gb": [Decimal(16)] * n,
            "disk_ids": [[f"d{i}"] for i in range(n)],
            "disk_size_gb": [[Decimal(100)]] * n,
            "disk_tiers": [["standard"]] * n,
            "version": np.ones(n, dtype=np.uint64),
        },
    )
    rng = np.random.default_rng(7)
    ts_day = np.arange(h0, h1, 60, dtype=np.int64)
    t = time.perf_counter()
    chunk = max(1, 2_000_000 // len(ts_day))
    for lo in range(0, n, chunk):
        part = ids[lo : lo + chunk]
        m = len(part) * len(ts_day)
        store.insert(
            "samples",
            {
                "vm_id": np.repeat(part, len(ts_day)),
                "ts": np.tile(ts_day, len(part)),
                "cpu_pct": rng.uniform(0, 100, m).astype(np.float32),
                "mem_pct": rng.uniform(0, 100, m).astype(np.float32),
                "source": np.full(m, "bench", dtype=object),
                "version": np.ones(m, dtype=np.uint64),
            },
        )
    total = n * len(ts_day)
    print(f"inserted {total:,} samples in {time.perf_counter() - t:.1f} s")
    t = time.perf_counter()
    rows = recompute_hours(store, None, h0, h1)
    hours_s = time.perf_counter() - t
    print(
        f"recompute_hours: {rows:,} VM-hours from {total:,} samples in {hours_s:.2f} s "
        f"= {total / hours_s:,.0f} samples/s"
    )
    t = time.perf_counter()
    days = recompute_days(store, None, day, day + dt.timedelta(days=1))
    days_s = time.perf_counter() - t
    print(f"recompute_days: {days:,} VM-days in {days_s:.2f} s = {rows / days_s:,.0f} VM-hours/s")
    t = time.perf_counter()
    recompute_hours(store, list(ids[:500]), h1 - 3600, h1)
    print(f"recompute_hours, 500 VMs x 1 hour (a flush): {time.perf_counter() - t:.3f} s")
    store.close()


if __name__ == "__main__":
    main()
