"""Candidate evaluation speed (issue 3 item 6): alerts + gauges over a simulated fleet.

Seeds a fresh store (not timed) with a quarter of 15-minute samples for N VMs,
generated inside ClickHouse (10 % idle, 20 % oversized, the rest busy; one disk
per VM, 10 % of them nearly empty), and recomputes the rollups. Then times:
the first evaluation (every candidate is new: send + record), a second one
(nothing changed: nothing sent) and a gauge refresh reusing the candidates.
Extrapolate linearly to 15,000 VMs (the queries are scans over usage_daily /
usage_hourly of the review windows).

    .venv/bin/python loadtest/alerts_bench.py --vms 1500
    .venv/bin/python loadtest/alerts_bench.py --vms 1500 --store clickhouse://127.0.0.1:19000/h6bench
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import tempfile
import time

from cloudtally.analytics.alerts import evaluate_candidates
from cloudtally.analytics.gauges import refresh_gauges
from cloudtally.analytics.rollups import hours_of_days, recompute_days, recompute_hours
from cloudtally.core.policy import parse_yaml, policy_from_document
from cloudtally.policy import example_policy_text
from cloudtally.store import open_store
from cloudtally.store.migrate import migrate

Q0, AS_OF = dt.date(2023, 7, 1), dt.date(2023, 10, 1)
STEP = 900


def seed(store, vms: int, policy) -> dict[str, float]:  # type: ignore[no-untyped-def]
    util = policy.versions[-1].utilization
    h0, h1 = hours_of_days(Q0, AS_OF, "Asia/Shanghai")
    per_vm = (h1 - h0) // STEP
    t = {}
    t0 = time.perf_counter()
    store.execute(
        """
        INSERT INTO vm_inventory (vm_id, event_ts, event, name, bureau, system, pool, provider,
            vcpu, mem_gb, disk_ids, disk_size_gb, disk_tiers, version)
        SELECT concat('vm-', toString(number)), toDateTime(%(t)s, 'UTC'), 'created',
            concat('vm-', toString(number)), concat('bureau-', toString(number %% 300)),
            concat('sys-', toString(number %% 1000)),
            concat('pool-', toString(1 + number %% 2)), 'provider-a',
            toUInt16(8), toDecimal64(16, 3), [concat('vm-', toString(number), '-d')],
            [toDecimal64(100, 3)], ['standard'], toUInt64(1)
        FROM numbers(%(n)s)
        """,
        {"t": h0 - 86400, "n": vms},
    )
    # class by vm number: 0 idle (2 % / 3 %), 1-2 oversized (10 % / 12 %), else busy
    store.execute(
        """
        INSERT INTO samples (vm_id, ts, cpu_pct, mem_pct, source, version)
        SELECT concat('vm-', toString(v)), toDateTime(%(h0)s + s * %(step)s, 'UTC'),
            toFloat32(multiIf(v %% 10 = 0, 2, v %% 10 < 3, 10, 45) + (s %% 5) * 0.5),
            toFloat32(multiIf(v %% 10 = 0, 3, v %% 10 < 3, 12, 60) + (s %% 3) * 0.5),
            'bench', toUInt64(1)
        FROM (SELECT intDiv(number, %(per)s) AS v, number %% %(per)s AS s
              FROM numbers(%(total)s))
        """,
        {"h0": h0, "step": STEP, "per": per_vm, "total": per_vm * vms},
    )
    days = (h1 - h0) // 86400
    store.execute(
        """
        INSERT INTO disk_samples (vm_id, disk_id, ts, used_gb, source, version)
        SELECT concat('vm-', toString(v)), concat('vm-', toString(v), '-d'),
            toDateTime(%(h0)s + d * 86400 + 10800, 'UTC'),
            if(v %% 10 = 5, 2.0, 60.0), 'bench', toUInt64(1)
        FROM (SELECT intDiv(number, %(days)s) AS v, number %% %(days)s AS d
              FROM numbers(%(total)s))
        """,
        {"h0": h0, "days": days, "total": days * vms},
    )
    t["seed_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    recompute_hours(store, None, h0, h1, utilization=util)
    recompute_days(store, None, Q0, AS_OF, utilization=util)
    t["rollups_s"] = time.perf_counter() - t0
    t["samples"] = per_vm * vms
    return t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--vms", type=int, default=1500)
    ap.add_argument("--store", default="", help="store URL (default: a temporary chDB folder)")
    args = ap.parse_args()
    doc = parse_yaml(example_policy_text())
    for v in doc["versions"]:
        v["utilization"] = {"expected_sample_interval_s": STEP}
    policy = policy_from_document(doc)
    folder = None
    if args.store:
        url = args.store
    else:
        folder = tempfile.mkdtemp(prefix="alerts-bench-")
        url = f"chdb://{folder}"
    store = open_store(url, database="alerts_bench")
    try:
        store.execute("DROP DATABASE IF EXISTS alerts_bench")
        store.execute("CREATE DATABASE alerts_bench")
        store = open_store(url, database="alerts_bench") if args.store else store
        migrate(store)
        seeded = seed(store, args.vms, policy)
        print(f"seeded {args.vms} VMs, {seeded['samples']:,} samples in {seeded['seed_s']:.1f} s;"
              f" rollups {seeded['rollups_s']:.1f} s")  # fmt: skip
        sent: list[int] = []
        t0 = time.perf_counter()
        s1 = evaluate_candidates(store, policy, AS_OF, lambda k, v: sent.append(len(v)))
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        s2 = evaluate_candidates(store, policy, AS_OF, lambda k, v: sent.append(len(v)))
        second = time.perf_counter() - t0
        t0 = time.perf_counter()
        refresh_gauges(store, policy, AS_OF, candidates=s2.candidates)
        gauges = time.perf_counter() - t0
        kinds: dict[str, int] = {}
        for e in s1.new:
            kinds[e["kind"]] = kinds.get(e["kind"], 0) + 1
        scale = 15000 / args.vms
        print(f"engine {store.engine} {'.'.join(map(str, store.version))}")
        print(f"first run: {len(s1.new)} new events {kinds} in {first:.2f} s "
              f"(candidates {s1.timings['candidates']:.2f}, send {s1.timings['diff_send']:.2f}, "
              f"record {s1.timings['record']:.2f})")  # fmt: skip
        print(f"second run: {len(s2.events)} events in {second:.2f} s "
              f"(candidates {s2.timings['candidates']:.2f})")  # fmt: skip
        print(f"gauges (reusing candidates): {gauges:.2f} s")
        print(f"linear extrapolation to 15,000 VMs: first ≈ {first * scale:.1f} s, "
              f"steady ≈ {(second + gauges) * scale:.1f} s")  # fmt: skip
    finally:
        if args.store:
            store.execute("DROP DATABASE IF EXISTS alerts_bench")
        store.close()
        if folder:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
