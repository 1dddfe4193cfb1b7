"""A fiscal year at Hainan scale, built in the store directly (issue 14 item 1).

15,000 VMs (the seeds' Hainan: 300+ bureaus, three providers), 12 months of the
fiscal year 1 October – 30 September. What the pipeline would leave behind:

* **inventory**: the simulator's :class:`~cloudtally.collectors.fleet.Fleet` (profiles,
  sizes, disks, creations, deletions and resizes inside the year), written as events;
* **raw samples**: CPU/memory every ``--interval`` seconds (default 300 s, what the
  Prometheus and node collectors send) and disk usage every ``--disk-interval`` s,
  generated *inside the store* by one ``INSERT … SELECT … ARRAY JOIN range()`` per
  month from each VM's level model (the Fleet's per-VM parameters, so idle portals,
  night-batch and oversized VMs are there all year) and a seeded ``cityHash64``
  noise — the store's own speed, no Kafka, no Python per row;
* **rollups**: the worker's own :class:`~cloudtally.worker.derive.Derivation` step,
  fed through ``rollup_queue`` month by month, exactly as the stream feeds it;
* **bill lines**: the worker's rating step once the year has closed (every day,
  whole months, provisional volume tiers), then every month closed and issued
  (``close_month``: final tiers, issued revision, audit-ledger entry).

Reports rows and bytes on disk per table (``system.parts``), bytes per raw sample and
per bill line, and the time of each step; ``--keep-raw-months N`` then applies the raw
retention (:mod:`cloudtally.store.retention`) and reports what it dropped.

    python loadtest/year_fixture.py                       # 15,000 VMs x 12 months, chDB
    python loadtest/year_fixture.py --vms 1500 --months 1 --store chdb:///tmp/year-small
    python loadtest/year_fixture.py --store clickhouse://127.0.0.1:9000/year

``build_year(store, ...)`` is the same as an importable function (the API bench uses it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from cloudtally.collectors.fleet import Fleet
from cloudtally.core.policy import Policy
from cloudtally.store import Store, open_store
from cloudtally.store.migrate import migrate

ROOT = Path(__file__).resolve().parents[1]
ZONE = ZoneInfo("Asia/Shanghai")
FIXTURE_VMS = "fixture_year_vms"  # helper tables, dropped at the end
FIXTURE_DISKS = "fixture_year_disks"

_VM_TABLE = f"""
CREATE TABLE IF NOT EXISTS {FIXTURE_VMS} (
    idx UInt32, vm_id String, created Int64, deleted Int64,
    c_off Float32, c_dday Float32, c_dnight Float32, c_rel Float32, c_abs Float32,
    c_lo Float32, c_hi Float32,
    m_off Float32, m_dday Float32, m_dnight Float32, m_rel Float32, m_abs Float32,
    m_lo Float32, m_hi Float32
) ENGINE = MergeTree ORDER BY idx
"""
_DISK_TABLE = f"""
CREATE TABLE IF NOT EXISTS {FIXTURE_DISKS} (
    idx UInt32, vm_id String, disk_id String, created Int64, deleted Int64,
    size Float64, fill0 Float64, growth Float64, fill_max Float64, jitter Float64
) ENGINE = MergeTree ORDER BY idx
"""

# Business hours (09:00-12:00, 13:30-18:00 local, Monday-Friday) and the night batch
# window (00:00-06:00): the level model of collectors.fleet, without the holiday list.
# ``lt``: local (UTC+8, no DST) epoch seconds; weekday from the day number (day 0: Thursday).
_DAY = (
    "(intDiv(lt, 86400) + 3) %% 7 < 5 AND "
    "((lt %% 86400 >= 32400 AND lt %% 86400 < 43200) OR "
    "(lt %% 86400 >= 48600 AND lt %% 86400 < 64800))"
)
_NIGHT = "(lt %% 86400 < 21600)"


def _metric(p: str, salt: int) -> str:
    """clip(level + noise * (level * rel + abs), lo, hi) for metric prefix ``p``."""
    level = f"({p}_off + {p}_dday * ({_DAY}) + {p}_dnight * {_NIGHT})"
    noise = f"((toFloat32(cityHash64(%(seed)s, {salt}, idx, k) %% 20001) - 10000) / 10000)"
    value = f"{level} + {noise} * ({level} * {p}_rel + {p}_abs)"
    return f"toFloat32(greatest({p}_lo, least({p}_hi, {value})))"


_SAMPLES = f"""
INSERT INTO samples (vm_id, ts, cpu_pct, mem_pct, source, version, interval_s)
SELECT vm_id, ts, {_metric("c", 1)}, {_metric("m", 2)}, 'year-fixture', %(version)s,
       %(interval)s
FROM (SELECT *, k, toDateTime(%(t0)s + k * %(interval)s, 'UTC') AS ts,
             %(t0)s + k * %(interval)s + 28800 AS lt
      FROM (SELECT * FROM {FIXTURE_VMS}
            WHERE idx >= %(i0)s AND idx < %(i1)s AND created < %(t1)s AND deleted > %(t0)s)
      ARRAY JOIN range(%(n)s) AS k)
WHERE toInt64(ts) >= created AND toInt64(ts) < deleted
"""

_DISK_SAMPLES = f"""
INSERT INTO disk_samples (vm_id, disk_id, ts, used_gb, source, version)
SELECT vm_id, disk_id, ts,
       size * greatest(0, least(fill_max, fill0 + growth * (toInt64(ts) - %(fleet_start)s) / 86400)
           + jitter * ((toFloat64(cityHash64(%(seed)s, 3, idx, k) %% 20001) - 10000) / 10000)),
       'year-fixture', %(version)s
FROM (SELECT *, k, toDateTime(%(t0)s + k * %(interval)s, 'UTC') AS ts
      FROM (SELECT * FROM {FIXTURE_DISKS} WHERE created < %(t1)s AND deleted > %(t0)s)
      ARRAY JOIN range(%(n)s) AS k)
WHERE toInt64(ts) >= created AND toInt64(ts) < deleted
"""


@dataclass
class YearReport:
    vms: int
    months: int
    first_month: str
    interval_s: int
    disk_interval_s: int
    engine: str
    samples: int = 0
    disk_samples: int = 0
    bill_lines: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    tables: dict[str, dict[str, int]] = field(default_factory=dict)
    bytes_per_sample: float = 0.0
    bytes_per_disk_sample: float = 0.0
    bytes_per_bill_line: float = 0.0
    bytes_per_usage_hour: float = 0.0
    retention: dict[str, Any] = field(default_factory=dict)
    months_done: int = 0
    # One entry per month built: its own seconds per step and the machine's load then.
    per_month: list[dict[str, Any]] = field(default_factory=list)


def fiscal_months(first: dt.date, months: int) -> list[dt.date]:
    out, y, m = [], first.year, first.month
    for _ in range(months):
        out.append(dt.date(y, m, 1))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def _epoch(d: dt.date) -> int:
    return int(dt.datetime(d.year, d.month, d.day, tzinfo=ZONE).timestamp())


def _fixture_tables(store: Store, fleet: Fleet, version: int) -> None:
    store.execute(f"DROP TABLE IF EXISTS {FIXTURE_VMS}")
    store.execute(f"DROP TABLE IF EXISTS {FIXTURE_DISKS}")
    store.execute(_VM_TABLE)
    store.execute(_DISK_TABLE)
    n = len(fleet.vms)
    cols: dict[str, Any] = {
        "idx": np.arange(n, dtype=np.uint32),
        "vm_id": fleet.vm_ids,
        "created": fleet.created,
        "deleted": fleet.deleted,
    }
    for prefix, params in (("c", fleet.cpu), ("m", fleet.mem)):
        for name in ("off", "dday", "dnight", "rel", "abs", "lo", "hi"):
            cols[f"{prefix}_{name}"] = getattr(params, name).astype(np.float32)
    store.insert(FIXTURE_VMS, cols)
    d = fleet.disk_vm
    store.insert(
        FIXTURE_DISKS,
        {"idx": np.arange(len(d), dtype=np.uint32), "vm_id": fleet.vm_ids[d],
         "disk_id": fleet.disk_ids, "created": fleet.created[d], "deleted": fleet.deleted[d],
         "size": fleet.disk_size, "fill0": fleet.disk_fill0, "growth": fleet.disk_growth,
         "fill_max": fleet.disk_fill_max, "jitter": fleet.disk_jitter},
    )  # fmt: skip


def _queue_hours(store: Store, t0: int, t1: int) -> None:
    """What the sink records for a flush: the touched hours (all VMs: vm_id '')."""
    hours = np.arange(t0 // 3600 * 3600, t1, 3600, dtype=np.int64)
    store.insert(
        "rollup_queue",
        {"vm_id": np.full(len(hours), "", dtype=object), "hour": hours,
         "version": np.full(len(hours), time.time_ns() // 1_000_000, dtype=np.uint64)},
    )  # fmt: skip


def table_sizes(store: Store, tables: list[str]) -> dict[str, dict[str, int]]:
    """Active parts' rows and bytes on disk per table (system.parts)."""
    rows = store.rows(
        "SELECT table, sum(rows), sum(bytes_on_disk), count() FROM system.parts "
        "WHERE active AND database = %(db)s AND table IN %(t)s GROUP BY table",
        {"db": store.database, "t": tuple(tables)},
    )
    return {r[0]: {"rows": int(r[1]), "bytes": int(r[2]), "parts": int(r[3])} for r in rows}


def build_year(
    store: Store,
    policy: Policy,
    *,
    vms: int = 15_000,
    months: int = 12,
    first_month: dt.date = dt.date(2022, 10, 1),
    interval_s: int = 300,
    disk_interval_s: int = 3600,
    seed: int = 14,
    bureaus: int = 300,
    close_months: int | None = None,
    log: Callable[[str], None] = print,
    progress: Callable[[YearReport], None] | None = None,
) -> YearReport:
    """Write the year into ``store`` (migrated, expected empty); see the module docstring.

    ``close_months``: how many of the months to close and issue, from the first (None: all).
    """
    from cloudtally.billing.rate import close_month
    from cloudtally.worker.derive import Derivation

    rep = YearReport(vms, months, first_month.isoformat(), interval_s, disk_interval_s,
                     store.engine)  # fmt: skip
    month_list = fiscal_months(first_month, months)
    start = _epoch(month_list[0])
    end_day = fiscal_months(month_list[-1], 2)[1]
    end = _epoch(end_day)
    version = time.time_ns() // 1_000_000
    t = time.perf_counter()

    def step(name: str) -> float:
        nonlocal t
        took = time.perf_counter() - t
        rep.seconds[name] = round(rep.seconds.get(name, 0.0) + took, 2)
        t = time.perf_counter()
        return took

    fleet = Fleet.build(seed, vms, 2, bureaus, start=start, end=end)
    from cloudtally.console.firstrun import _inventory

    _inventory(store, fleet, version)
    _fixture_tables(store, fleet, version)
    step("inventory")
    derivation = Derivation(store, policy)
    # A chunk of VMs per INSERT keeps each one's memory small on both engines.
    vm_chunk = max(1, 20_000_000 // (31 * 86400 // interval_s))
    for m0 in month_list:
        m1 = fiscal_months(m0, 2)[1]
        t0, t1 = _epoch(m0), _epoch(m1)
        params = {"seed": seed, "version": version, "t0": t0, "t1": t1, "fleet_start": start}
        for i0 in range(0, vms, vm_chunk):
            store.execute(
                _SAMPLES,
                params | {"interval": interval_s, "n": (t1 - t0) // interval_s,
                          "i0": i0, "i1": i0 + vm_chunk},
            )  # fmt: skip
        store.execute(
            _DISK_SAMPLES, params | {"interval": disk_interval_s, "n": (t1 - t0) // disk_interval_s}
        )
        raw_s = step("raw_samples")
        _queue_hours(store, t0, t1)
        derivation.rollup()
        month = {"month": f"{m0:%Y-%m}", "raw_s": round(raw_s, 2),
                 "rollups_s": round(step("rollups"), 2)} | load_and_disk(store)  # fmt: skip
        rep.per_month.append(month)
        log(f"  {month}")
        if progress:  # a long build that is stopped still leaves its figures so far
            rep.months_done = month_list.index(m0) + 1
            measure(store, rep)
            progress(rep)
    # The year has closed: the rating step rates every closed day, whole months.
    derivation.rate(now=end + 3600)
    step("rating")
    log(f"  rated the year in {rep.seconds['rating']} s")
    if close_months != 0:
        for i, m0 in enumerate(month_list[:close_months]):
            close_month(store, policy, m0, actor="year-fixture", reason="fixture year")
            rep.per_month[i]["close_s"] = round(step("close_months"), 2)
            log(f"  closed {m0:%Y-%m} in {rep.per_month[i]['close_s']} s")
    store.execute(f"DROP TABLE IF EXISTS {FIXTURE_VMS}")
    store.execute(f"DROP TABLE IF EXISTS {FIXTURE_DISKS}")
    measure(store, rep)
    return rep


def measure(store: Store, rep: YearReport) -> None:
    tables = ["samples", "disk_samples", "usage_hourly", "usage_daily", "bill_lines",
              "bill_current", "disk_usage_daily", "rollup_queue", "issued_lines"]  # fmt: skip
    rep.tables = table_sizes(store, tables)

    def per_row(name: str) -> float:
        t = rep.tables.get(name, {"rows": 0, "bytes": 0})
        return round(t["bytes"] / t["rows"], 2) if t["rows"] else 0.0

    rep.samples = rep.tables.get("samples", {}).get("rows", 0)
    rep.disk_samples = rep.tables.get("disk_samples", {}).get("rows", 0)
    rep.bill_lines = rep.tables.get("bill_lines", {}).get("rows", 0)
    rep.bytes_per_sample = per_row("samples")
    rep.bytes_per_disk_sample = per_row("disk_samples")
    rep.bytes_per_bill_line = per_row("bill_lines")
    rep.bytes_per_usage_hour = per_row("usage_hourly")


def load_and_disk(store: Store) -> dict[str, Any]:
    """The machine's load average and the store folder's free disk, now (shared machine:
    a step's seconds mean little without the load they were taken under)."""
    path = getattr(store, "path", None)
    free = shutil.disk_usage(path).free if path else None
    return {"load_average": [round(x, 2) for x in os.getloadavg()],
            "disk_free_gb": round(free / 1e9, 1) if free is not None else None}  # fmt: skip


def machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "load_average": [round(x, 2) for x in os.getloadavg()],
            "python": platform.python_version(), "host": platform.node()}  # fmt: skip


def main() -> None:
    from cloudtally.billing.cli import example_policy_text
    from cloudtally.core.policy import load_policy

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--vms", type=int, default=15_000)
    ap.add_argument("--months", type=int, default=12)
    ap.add_argument("--first-month", default="2022-10", help="YYYY-MM (fiscal year start)")
    ap.add_argument("--interval", type=int, default=300, help="CPU/memory sample interval, s")
    ap.add_argument("--disk-interval", type=int, default=3600, help="disk sample interval, s")
    ap.add_argument("--seed", type=int, default=14)
    ap.add_argument("--store", default="", help="chdb:///folder or clickhouse://host:port/db")
    ap.add_argument("--database", default="year")
    ap.add_argument("--keep", action="store_true", help="keep the chDB folder afterwards")
    ap.add_argument("--no-close", action="store_true", help="leave the months open")
    ap.add_argument(
        "--keep-raw-months",
        type=int,
        default=0,
        help="then apply raw retention: keep this many months (0 = keep all)",
    )
    ap.add_argument("--out", default=str(ROOT / "loadtest/results/year-latest.json"))
    args = ap.parse_args()
    url = args.store or "chdb:///tmp/cloudtally-year"
    folder = url.removeprefix("chdb://") if url.startswith("chdb://") else None
    if folder:
        shutil.rmtree(folder, ignore_errors=True)
    store = open_store(url, args.database)
    if store.engine == "server":
        store.execute(f"DROP DATABASE IF EXISTS {args.database}")
        store.close()
        store = open_store(url, args.database)
    y, m = (int(x) for x in args.first_month.split("-"))
    policy = load_policy(example_policy_text())
    started = time.perf_counter()

    def write(rep: YearReport) -> None:
        result = asdict(rep) | {
            "wall_seconds": round(time.perf_counter() - started, 1),
            "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "machine": machine(),
            "store": url if not folder else "chdb",
        }
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")

    try:
        migrate(store)
        print(f"year fixture: {args.vms} VMs x {args.months} months from {args.first_month} "
              f"at {args.interval} s on {store.engine}", flush=True)  # fmt: skip
        rep = build_year(
            store, policy, vms=args.vms, months=args.months, first_month=dt.date(y, m, 1),
            interval_s=args.interval, disk_interval_s=args.disk_interval, seed=args.seed,
            close_months=0 if args.no_close else None, log=lambda s: print(s, flush=True),
            progress=write,
        )  # fmt: skip
        if args.keep_raw_months:
            from cloudtally.store.retention import apply_retention

            t = time.perf_counter()
            dropped = apply_retention(
                store,
                args.keep_raw_months,
                actor="year-fixture",
                today=fiscal_months(dt.date(y, m, 1), args.months + 1)[-1],
            )
            rep.seconds["retention"] = round(time.perf_counter() - t, 2)
            rep.retention = {"keep_raw_months": args.keep_raw_months,
                             "dropped": [asdict(d) for d in dropped]}  # fmt: skip
            measure(store, rep)
    finally:
        store.close()
        if folder and not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    rep.months_done = args.months
    write(rep)
    print(Path(args.out).read_text())
    gb = sum(t["bytes"] for t in rep.tables.values()) / 1e9
    print(f"\nraw samples {rep.samples:,} at {rep.bytes_per_sample} B each; bill lines "
          f"{rep.bill_lines:,} at {rep.bytes_per_bill_line} B each; {gb:.2f} GB")  # fmt: skip
    print(f"rollups {rep.seconds.get('rollups')} s, rating the year {rep.seconds.get('rating')} s")


if __name__ == "__main__":
    main()
