"""Scorecard benchmark: one pool's annual scorecard over a year of daily rollups (chDB).

Generates ``usage_daily`` directly in ClickHouse (N VMs of one pool × 365 days, as the
rollups leave them), then times the scorecard of that pool: the monthly utilization
query alone, and the whole card (utilization, tariff, rounds, entries, availability
over the year and fault reports; samples are empty here, so availability's own cost —
docs/availability.md — is not in this figure). Writes loadtest/results/scorecard-latest.json.

Usage: python loadtest/scorecard_bench.py [--vms 4000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import shutil
import tempfile
import time
from pathlib import Path

from cloudtally.core.policy import load_policy
from cloudtally.policy import example_policy_text, scorecard_scheme
from cloudtally.scorecard.gather import build, monthly_utilization
from cloudtally.scorecard.report import plain
from cloudtally.store import open_store
from cloudtally.store.migrate import migrate

ROOT = Path(__file__).resolve().parents[1]
GENERATE = """
INSERT INTO usage_daily (vm_id, day, bureau, system, pool, provider, vcpu, mem_gb, hours,
    samples, expected_samples, coverage, cpu_num_all, cpu_den_all, mem_num_all, mem_den_all,
    storage_num, storage_den, version)
SELECT concat('vm-', toString(vm)), toDate('2022-10-01') + d, concat('b', toString(vm %% 300)),
    concat('s', toString(vm %% 1000)), 'pool-1', 'provider-a', 8, 16, 24, 1440, 1440, 1,
    8 * 24 * (20 + vm %% 50), 8 * 24, 16 * 24 * (30 + vm %% 40), 16 * 24,
    100 * 24 * (0.3 + (vm %% 50) / 100), 100 * 24, 1
FROM (SELECT number AS vm FROM numbers(%(vms)s)) AS v
CROSS JOIN (SELECT toUInt16(number) AS d FROM numbers(365)) AS days
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--vms", type=int, default=4000)
    args = ap.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="scorecard-bench-"))
    try:
        with open_store(f"chdb://{folder}") as store:
            migrate(store)
            t0 = time.perf_counter()
            store.execute(GENERATE, {"vms": args.vms})
            gen_s = time.perf_counter() - t0
            rows = int(store.scalar("SELECT count() FROM usage_daily"))
            policy = load_policy(example_policy_text())
            scheme = scorecard_scheme(None)
            d0, d1 = policy.fiscal_year_range(2023)
            t0 = time.perf_counter()
            months = monthly_utilization(store, "provider-a", "pool-1", d0, d1)
            util_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            card = build(store, policy, scheme, 2023, "provider-a", "pool-1")
            card_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            build(store, policy, scheme, 2023, "provider-a", "pool-1")
            again_s = time.perf_counter() - t0
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    result = {
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": platform.platform(), "vms": args.vms, "usage_daily_rows": rows,
        "generate_s": round(gen_s, 2), "months": len(months),
        "monthly_utilization_s": round(util_s, 3), "card_s": round(card_s, 3),
        "card_again_s": round(again_s, 3), "total": plain(card.total), "grade": card.grade.grade,
    }  # fmt: skip
    out = ROOT / "loadtest/results/scorecard-latest.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
