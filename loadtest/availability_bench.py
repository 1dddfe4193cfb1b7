"""Availability read model on embedded chDB: a month of a fleet at a 5-minute interval.

Plants VMs with hourly heartbeats and samples (every VM down one hour, every tenth VM
twice), then times the month's assessment (evidence queries + pure core) and the
per-pool report. Prints the figures and writes loadtest/results/availability-latest.json.

    python loadtest/availability_bench.py --vms 2000 --days 30
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import shutil
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import numpy as np

from cloudtally.core.policy import load_policy
from cloudtally.evaluation.availability import Scope, assess, report
from cloudtally.policy import example_policy_text
from cloudtally.store import open_store
from cloudtally.store.migrate import migrate

ROOT = Path(__file__).resolve().parents[1]
SH = dt.timezone(dt.timedelta(hours=8))


def plant(store, vms: int, days: int, interval: int) -> int:  # type: ignore[no-untyped-def]
    t0 = int(dt.datetime(2023, 3, 1, tzinfo=SH).timestamp())
    end = t0 + days * 86400
    ids = [f"vm-{i:05d}" for i in range(vms)]
    inv = {
        "vm_id": ids, "event_ts": [t0 - 86400] * vms, "event": ["created"] * vms,
        "name": ids, "bureau": [f"b{i % 50}" for i in range(vms)],
        "system": [f"s{i % 400}" for i in range(vms)],
        "pool": [f"pool-{i % 4}" for i in range(vms)],
        "provider": ["provider-a"] * vms, "vcpu": [4] * vms, "mem_gb": [Decimal(8)] * vms,
        "disk_ids": [[]] * vms, "disk_size_gb": [[]] * vms, "disk_tiers": [[]] * vms,
        "version": [1] * vms,
    }  # fmt: skip
    store.insert("vm_inventory", inv)
    ts = np.arange(t0, end, interval, dtype=np.int64)
    total = 0
    for lo in range(0, vms, 200):
        chunk = ids[lo : lo + 200]
        cols_vm, cols_ts = [], []
        for j, vm in enumerate(chunk):
            k = lo + j
            down = t0 + (k % days) * 86400 + 3600 * (k % 24)
            keep = ~((ts >= down) & (ts < down + 3600))
            if k % 10 == 0:
                keep &= ~((ts >= down + 7200) & (ts < down + 9000))
            sel = ts[keep]
            cols_vm.append(np.full(len(sel), vm, dtype=object))
            cols_ts.append(sel)
        n = sum(len(x) for x in cols_ts)
        store.insert(
            "samples",
            {
                "vm_id": np.concatenate(cols_vm), "ts": np.concatenate(cols_ts),
                "cpu_pct": np.full(n, 20.0, np.float32), "mem_pct": np.full(n, 40.0, np.float32),
                "source": np.full(n, "prometheus:bench", dtype=object),
                "version": np.ones(n, np.uint64), "interval_s": np.full(n, interval, np.uint32),
            },
        )  # fmt: skip
        total += n
    hours = list(range(t0, end, 3600))
    store.insert(
        "collector_heartbeats",
        {
            "source": ["prometheus:bench"] * len(hours), "partition": [0] * len(hours),
            "sent_at": [h + 3600 for h in hours], "data_from": hours,
            "data_until": [h + 3600 - interval for h in hours], "samples": [0] * len(hours),
            "vms": [vms] * len(hours), "unknown_series": [0] * len(hours),
            "errors": [0] * len(hours), "received_at": [h + 3600 for h in hours],
            "version": [1] * len(hours),
        },
    )  # fmt: skip
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--vms", type=int, default=2000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--interval", type=int, default=300)
    args = ap.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="availability-bench-"))
    policy = load_policy(example_policy_text())
    try:
        store = open_store(f"chdb://{folder}", database="bench")
        migrate(store)
        t = time.perf_counter()
        samples = plant(store, args.vms, args.days, args.interval)
        plant_s = time.perf_counter() - t
        t0 = int(dt.datetime(2023, 3, 1, tzinfo=SH).timestamp())
        scope = Scope(t0, t0 + args.days * 86400)
        t = time.perf_counter()
        a = assess(store, policy, scope)
        assess_s = time.perf_counter() - t
        incidents = len(a.incidents())
        t = time.perf_counter()
        report(store, policy, scope, by="pool", incidents=False)
        report_s = time.perf_counter() - t
        store.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    out = {
        "vms": args.vms,
        "days": args.days,
        "interval_s": args.interval,
        "samples": samples,
        "incidents": incidents,
        "plant_s": round(plant_s, 2),
        "assess_s": round(assess_s, 2),
        "report_by_pool_s": round(report_s, 2),
        "vm_months_per_s": round(args.vms / assess_s, 1),
        "machine": f"{platform.machine()}, {__import__('os').cpu_count()} cores",
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    print(json.dumps(out, indent=2))
    dest = ROOT / "loadtest" / "results" / "availability-latest.json"
    dest.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
