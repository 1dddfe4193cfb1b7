"""Rating benchmark: re-rate one synthetic month (January 2023, 744 h) on chDB.

Generates usage_hourly for --vms VMs inside ClickHouse (every VM exists all
month, four pools of the example tariff, ~3 % metering gaps, some idle VMs so
the low-utilization cut applies), then times ``rate_period`` for the whole
month as a re-rate (fetch/aggregate in SQL, price in numpy, write lines and
pointers), twice, and reports lines/s and VM-hours/s with a linear
extrapolation to Hainan scale (15,000 VMs ≈ 11.2 M VM-hours).
Writes loadtest/results/rating-latest.json.

Usage: python loadtest/bench_rating.py [--vms 1500] [--store chdb:///tmp/x | clickhouse://...]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import tempfile
import time
from pathlib import Path

from cloudtally.billing.cli import example_policy_text
from cloudtally.billing.rate import rate_period
from cloudtally.core.policy import load_policy
from cloudtally.store import open_store
from cloudtally.store.migrate import migrate

ROOT = Path(__file__).resolve().parents[1]
SH = dt.timezone(dt.timedelta(hours=8))
HOURS = 744

GENERATE = """
INSERT INTO usage_hourly (vm_id, hour, bureau, system, pool, provider, vcpu, mem_gb,
    storage_gb_performance, storage_gb_standard, storage_gb_archive, alloc_fraction,
    storage_used_gb, disks_sampled, samples, expected_samples, coverage, cpu_avg, cpu_max,
    cpu_p95, mem_avg, mem_max, mem_p95, business_weight, version)
SELECT concat('vm-', toString(vm)) AS vm_id,
    toDateTime(%(start)s + h * 3600, 'UTC') AS hour,
    concat('bureau-', toString(vm %% 300)), concat('system-', toString(vm %% 1000)),
    arrayElement(['pool-1', 'pool-2', 'pool-3', 'pool-4'], (vm %% 4) + 1),
    arrayElement(['provider-a', 'provider-a', 'provider-b', 'provider-b'], (vm %% 4) + 1),
    toUInt16(2 + (vm %% 8) * 2), toDecimal64(4 + (vm %% 8) * 4, 3),
    toDecimal64(100 + vm %% 200, 3), toDecimal64(vm %% 3 = 0 ? 500 : 0, 3),
    toDecimal64(vm %% 5 = 0 ? 2000 : 0, 3),
    toFloat32(1), CAST(NULL AS Nullable(Float64)), toUInt16(0), toUInt16(60), toUInt16(60),
    toFloat32(1),
    gap ? CAST(NULL AS Nullable(Float32)) : toFloat32(idle ? 5 : 10 + (cityHash64(vm, h) %% 60)),
    CAST(NULL AS Nullable(Float32)), CAST(NULL AS Nullable(Float32)),
    gap ? CAST(NULL AS Nullable(Float32)) : toFloat32(idle ? 8 : 20 + (cityHash64(h, vm) %% 50)),
    CAST(NULL AS Nullable(Float32)), CAST(NULL AS Nullable(Float32)),
    toFloat32(toHour(hour, 'Asia/Shanghai') >= 9 AND toHour(hour, 'Asia/Shanghai') < 18
              AND toDayOfWeek(toDate(hour, 'Asia/Shanghai')) < 6),
    toUInt64(1)
FROM (SELECT number %% %(vms)s AS vm, intDiv(number, %(vms)s) AS h,
             (cityHash64(number) %% 100) < 3 AS gap, vm %% 7 = 0 AS idle
      FROM numbers(%(rows)s))
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--vms", type=int, default=1500)
    ap.add_argument("--store", default="")
    args = ap.parse_args()
    folder = None
    url = args.store
    if not url:
        folder = Path(tempfile.mkdtemp(prefix="bench-rating-"))
        url = f"chdb://{folder}"
    policy = load_policy(example_policy_text())
    t0 = dt.datetime(2023, 1, 1, tzinfo=SH)
    t1 = dt.datetime(2023, 2, 1, tzinfo=SH)
    try:
        with open_store(url, "bench_rating") as store:
            migrate(store)
            store.execute("TRUNCATE TABLE usage_hourly")
            g = time.perf_counter()
            store.execute(GENERATE, {"start": int(t0.timestamp()), "vms": args.vms,
                                     "rows": args.vms * HOURS})  # fmt: skip
            gen_s = time.perf_counter() - g
            # A month at rest is merged; do not time the merges of a fresh bulk insert.
            store.execute("OPTIMIZE TABLE usage_hourly FINAL")
            runs = []
            for kind in ("stream", "rerate"):
                s0 = time.perf_counter()
                s = rate_period(store, policy, t0, t1, run_kind=kind, reason="bench")
                wall = time.perf_counter() - s0
                runs.append({"kind": kind, "seconds": round(wall, 2), "lines": s.line_count,
                             "vm_hours": s.vm_hours, "total_cny": str(s.total),
                             "stages": {k: round(v, 2) for k, v in s.seconds.items()}})  # fmt: skip
                print(f"{kind}: {wall:.2f}s {s.line_count} lines {s.vm_hours} VM-h "
                      f"({s.line_count / wall:,.0f} lines/s, {s.vm_hours / wall:,.0f} VM-h/s) "
                      f"stages {s.seconds} total {s.total}")  # fmt: skip
            best = min(r["seconds"] for r in runs)
            factor = 15000 / args.vms
            result = {
                "when": dt.datetime.now(dt.UTC).isoformat(),
                "engine": store.engine,
                "vms": args.vms,
                "generate_seconds": round(gen_s, 2),
                "runs": runs,
                "lines_per_s": round(runs[-1]["lines"] / best),
                "vm_hours_per_s": round(runs[-1]["vm_hours"] / best),
                "extrapolated_15000_vms_seconds": round(best * factor, 1),
            }
            print(json.dumps(result, indent=2))
            (ROOT / "loadtest/results/rating-latest.json").write_text(json.dumps(result, indent=2))
    finally:
        if folder:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
