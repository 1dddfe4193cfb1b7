"""Console page server times at Hainan scale: 15,000 VMs and a month of bill lines.

Seeds chDB (a temp folder) in SQL: the inventory of 15,000 VMs (300 bureaus, 1,000
systems, four pools), a month of usage_hourly (January 2023, the rating benchmark's
generator: ~3 % gaps, every 7th VM idle), the daily rollups, then rates the month
(about 2 M bill lines). Then requests every console page through the real app
(in-process ASGI client, so the figure is the server's time, not the network's),
``--rounds`` times each, as the buyer and as one bureau, and prints p50 / p95 per page
against the goal p95 ≤ 300 ms. Writes loadtest/results/console-latest.json.

Usage: python loadtest/console_bench.py [--vms 15000] [--rounds 20]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

from cloudtally.analytics.rollups import recompute_days
from cloudtally.api.auth import write_demo_tokens
from cloudtally.api.main import create_api
from cloudtally.billing.cli import example_policy_text
from cloudtally.billing.rate import rate_period
from cloudtally.core.policy import load_policy
from cloudtally.settings import Settings
from cloudtally.store import open_store
from cloudtally.store.migrate import migrate

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

ROOT = Path(__file__).resolve().parents[1]
SH = dt.timezone(dt.timedelta(hours=8))
GOAL_MS = 300.0

INVENTORY = """
INSERT INTO vm_inventory (vm_id, event_ts, event, name, bureau, system, pool, provider,
    vcpu, mem_gb, disk_ids, disk_size_gb, disk_tiers, version)
SELECT concat('vm-', toString(number)), toDateTime(%(t)s, 'UTC'), 'created',
    concat('app-', toString(number % 1000), '-node', toString(number)),
    concat('bureau-', toString(number % 300)), concat('system-', toString(number % 1000)),
    arrayElement(['pool-1', 'pool-2', 'pool-3', 'pool-4'], (number % 4) + 1),
    arrayElement(['provider-a', 'provider-a', 'provider-b', 'provider-b'], (number % 4) + 1),
    toUInt16(2 + (number % 8) * 2), toDecimal64(4 + (number % 8) * 4, 3),
    [concat('vm-', toString(number), '-d')], [toDecimal64(100, 3)], ['standard'], toUInt64(1)
FROM numbers(%(n)s)
"""


def seed(store, vms: int) -> dict[str, float]:  # type: ignore[no-untyped-def]
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_rating", ROOT / "loadtest/bench_rating.py")
    assert spec and spec.loader
    bench_rating = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench_rating)
    policy = load_policy(example_policy_text())
    t0, t1 = dt.datetime(2023, 1, 1, tzinfo=SH), dt.datetime(2023, 2, 1, tzinfo=SH)
    times: dict[str, float] = {}
    c = time.perf_counter()
    store.execute(INVENTORY.replace("%", "%%").replace("%%(", "%("),
                  {"t": int(t0.timestamp()) - 86400, "n": vms})  # fmt: skip
    store.execute(bench_rating.GENERATE, {"start": int(t0.timestamp()), "vms": vms,
                                          "rows": vms * bench_rating.HOURS})  # fmt: skip
    # The rating generator leaves max/p95 NULL (rating reads averages); the candidate rules
    # read maxima and daytime p95, so give every sampled hour max = p95 = its average.
    # (column by column: ClickHouse 18.16 has no SELECT * REPLACE)
    same = {"cpu_max": "cpu_avg", "cpu_p95": "cpu_avg", "mem_max": "mem_avg",
            "mem_p95": "mem_avg", "version": "toUInt64(2)"}  # fmt: skip
    cols = [r[0] for r in store.rows("DESCRIBE TABLE usage_hourly") if r[2] in ("", "DEFAULT")]
    store.execute(f"INSERT INTO usage_hourly ({', '.join(cols)}) SELECT "
                  f"{', '.join(same.get(c, c) for c in cols)} FROM usage_hourly")  # fmt: skip
    store.execute("OPTIMIZE TABLE usage_hourly FINAL")
    times["seed_s"] = round(time.perf_counter() - c, 1)
    c = time.perf_counter()
    util = policy.versions[0].utilization
    recompute_days(store, None, t0.date(), t1.date(), utilization=util)
    times["rollups_s"] = round(time.perf_counter() - c, 1)
    c = time.perf_counter()
    summary = rate_period(store, policy, t0, t1, reason="console bench")
    times["rating_s"] = round(time.perf_counter() - c, 1)
    times["bill_lines"] = summary.line_count
    return times


def pages(bureau: str) -> dict[str, str]:
    return {
        "home": "/console/home?as_of=2023-02-01",
        "bills": "/console/bills?month=2023-01",
        "bills_system": "/console/bills?month=2023-01&system=system-7",
        "bills_vm": "/console/bills?month=2023-01&system=system-7&vm=vm-7",
        "utilization_vm": "/console/utilization?vm=vm-7&week=2023-01-16&month=2023-01",
        "utilization_system": "/console/utilization?system=system-7&week=2023-01-16&month=2023-01",
        "candidates": "/console/candidates?as_of=2023-02-01",
        "rounds": "/console/rounds",
        "search_id": "/console/search/results?q=vm-1234",
        "search_name": "/console/search/results?q=app-12",
        "pools": "/console/pools?month=2023-01&months=3",
        "pipeline": "/console/pipeline",
        "availability": "/console/availability?month=2023-01&months=1",
        "faults": "/console/faults?month=2023-01&months=1",
        "scorecards": "/console/scorecards?fy=2023",
        "scorecard": "/console/scorecards/2023/provider-a/pool-1",
    }


def measure(
    client: TestClient, token: str, urls: dict[str, str], rounds: int, save: Any = None
) -> dict[str, dict]:
    r = client.post("/console/login", data={"token": token}, follow_redirects=False)
    assert r.status_code == 303, r.text
    out = {}
    for name, url in urls.items():
        first = client.get(url)
        if first.status_code in (403, 404):  # not this role's page, or not in this build
            continue
        assert first.status_code == 200, (name, first.status_code, first.text[:500])
        ms = []
        for _ in range(rounds):
            c = time.perf_counter()
            client.get(url)
            ms.append((time.perf_counter() - c) * 1000)
        ms.sort()
        p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
        out[name] = {"p50_ms": round(statistics.median(ms), 1), "p95_ms": round(p95, 1),
                     "met": p95 <= GOAL_MS}  # fmt: skip
        print(f"  {name:<20} p50 {out[name]['p50_ms']:>8.1f} ms   p95 {p95:>8.1f} ms"
              f"   {'ok' if p95 <= GOAL_MS else 'OVER'}", flush=True)  # fmt: skip
        if save:
            save(out)  # an interrupted run keeps what it measured
    client.cookies.clear()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--vms", type=int, default=15000)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--out", default="console-latest.json", help="file in loadtest/results/")
    ap.add_argument(
        "--fixture",
        type=Path,
        default=None,
        help="keep the seeded store in this folder and reuse it on the next run",
    )
    args = ap.parse_args()
    folder = args.fixture or Path(tempfile.mkdtemp(prefix="bench-console-"))
    reuse = args.fixture is not None and (folder / "chdb").exists()
    try:
        store = open_store(f"chdb://{folder}/chdb", "bench_console")
        c = time.perf_counter()
        migrate(store)
        times: dict[str, float] = {"migrate_s": round(time.perf_counter() - c, 1)}
        if reuse:
            print(f"reusing the store in {folder}", flush=True)
            times["bill_lines"] = int(store.scalar("SELECT count() FROM bill_lines"))
        else:
            print(f"seeding {args.vms} VMs and a month of bill lines ...", flush=True)
            times.update(seed(store, args.vms))
        print(f"  {times}", flush=True)
        tokens = write_demo_tokens(folder / "tokens.yaml", ["bureau-7"])
        settings = Settings(_env_file=None, api_tokens_file=folder / "tokens.yaml",  # type: ignore[call-arg]
                            data_dir=folder)  # fmt: skip
        result: dict[str, object] = {
            "when": dt.datetime.now(dt.UTC).isoformat(), "engine": store.engine,
            "vms": args.vms, "rounds": args.rounds, "goal_p95_ms": GOAL_MS, **times,
            "cpus": os.cpu_count(), "load_average_before": os.getloadavg(),
        }  # fmt: skip
        out = ROOT / "loadtest/results" / args.out
        with TestClient(create_api(settings, lambda: store)) as client:
            for role in ("admin", "bureau:bureau-7"):
                print(f"{role}:", flush=True)

                def save(partial: dict[str, dict], role: str = role) -> None:
                    result[role] = partial
                    out.write_text(json.dumps(result, indent=2))

                measure(client, tokens[role], pages("bureau-7"), args.rounds, save)
        result["load_average_after"] = os.getloadavg()
        out.write_text(json.dumps(result, indent=2))
        print(f"load average {os.getloadavg()[0]:.1f}; wrote {out}")
        store.close()
    finally:
        if args.fixture is None:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
