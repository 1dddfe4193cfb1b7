"""Audit benchmark: close, restate and verify a ledger of N months at Hainan scale (chDB).

Generates bill lines and their current-run pointers directly in ClickHouse (15,000 VMs
× 5 resources × every day, 300 bureaus; like the rating step leaves them), then times:
closing each month (snapshot + ledger entry: the per-bureau digests of every line),
one restatement after a change to 1 % of a month's lines, and ``audit verify`` over the
whole ledger (every content hash recomputed from the rows). Prints lines/s and the
figure for a fiscal year (12 months, extrapolated linearly when fewer were run).
Writes loadtest/results/audit-latest.json.

Usage: python loadtest/audit_bench.py [--vms 15000] [--months 2]
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

from cloudtally.audit import ledger
from cloudtally.audit.issue import issue_month
from cloudtally.store import open_store
from cloudtally.store.migrate import migrate

ROOT = Path(__file__).resolve().parents[1]
RESOURCES = ["vcpu", "memory", "storage_performance", "storage_standard", "storage_archive"]

GENERATE = """
INSERT INTO bill_lines (vm_id, day, month, fiscal_year, bureau, system, pool, provider,
    resource, tariff_version, quantity, unit, unit_price, price_divisor, list_amount,
    after_discount, after_cut, adjustments, utilization_basis, hours, unmetered_hours,
    run_id, version)
SELECT concat('vm-', toString(vm)), d, toStartOfMonth(d), toUInt16(2024),
    concat('bureau-', toString(vm %% 300)), concat('system-', toString(vm %% 1000)),
    arrayElement(['pool-1', 'pool-2', 'pool-3', 'pool-4'], (vm %% 4) + 1),
    arrayElement(['provider-a', 'provider-a', 'provider-b', 'provider-b'], (vm %% 4) + 1),
    arrayElement(%(res)s, r + 1), '2023.2', toDecimal64(24 * (1 + vm %% 16), 7), 'unit-hour',
    toDecimal64(30, 6), toUInt16(720), toDecimal64((vm %% 997) / 100, 2),
    toDecimal64((vm %% 997) * 0.55 / 100, 2), toDecimal64((vm %% 997) * 0.55 / 100, 2),
    '[{"rule":"catalog"}]', toFloat32(vm %% 60), toDecimal64(24, 4), toUInt16(0),
    %(run)s, toUInt64(1)
FROM (SELECT number %% %(vms)s AS vm, intDiv(number, %(vms)s) %% 5 AS r,
             addDays(toDate(%(d0)s), intDiv(number, %(vms)s * 5)) AS d
      FROM numbers(%(rows)s))
"""
POINTERS = """
INSERT INTO bill_current (vm_id, day, run_id, version)
SELECT DISTINCT vm_id, day, run_id, toUInt64(1) FROM bill_lines WHERE run_id = %(run)s
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--vms", type=int, default=15000)
    ap.add_argument("--months", type=int, default=2)
    args = ap.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="audit-bench-"))
    out: dict[str, object] = {
        "vms": args.vms,
        "months": args.months,
        "machine": f"{platform.machine()}, {__import__('os').cpu_count()} cores",
    }
    try:
        store = open_store(f"chdb://{folder}", database="bench")
        migrate(store)
        close_s, lines_total = [], 0
        first = dt.date(2023, 10, 1)
        months = []
        for i in range(args.months):
            m = (first.replace(day=28) + dt.timedelta(days=31 * i)).replace(day=1)
            nxt = (m.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
            days = (nxt - m).days
            rows = args.vms * 5 * days
            run = f"bench-{m:%Y%m}"
            store.execute(GENERATE, {"res": RESOURCES, "run": run, "vms": args.vms, "rows": rows,
                                     "d0": m})  # fmt: skip
            store.execute(POINTERS, {"run": run})
            t = time.perf_counter()
            issue_month(store, m, actor="bench")
            close_s.append(time.perf_counter() - t)
            lines_total += rows
            months.append(m)
            print(f"closed {m:%Y-%m}: {rows:,} lines in {close_s[-1]:.1f} s "
                  f"({rows / close_s[-1]:,.0f} lines/s)")  # fmt: skip
        # A restatement: 1 % of the first month's VMs re-rated (new run, new pointers).
        m = months[0]
        run2 = "bench-restate"
        store.execute(
            f"""INSERT INTO bill_lines SELECT vm_id, day, month, fiscal_year, bureau, system,
            pool, provider, resource, tariff_version, quantity, unit, unit_price,
            price_divisor, list_amount + 1, after_discount + 1, after_cut + 1, adjustments,
            utilization_basis, hours, unmetered_hours, '{run2}', toUInt64(2),
            calendar_provisional, month_provisional
            FROM bill_lines WHERE run_id = 'bench-{m:%Y%m}' AND cityHash64(vm_id) % 100 = 0"""
        )
        store.execute(POINTERS.replace("toUInt64(1)", "toUInt64(2)"), {"run": run2})
        t = time.perf_counter()
        r = issue_month(store, m, actor="bench", reason="bench restatement")
        restate_s = time.perf_counter() - t
        print(f"restated {m:%Y-%m}: {r.reversals:,} reversals, {r.replacements:,} replacements "
              f"in {restate_s:.1f} s")  # fmt: skip
        t = time.perf_counter()
        report = ledger.verify(store)
        verify_s = time.perf_counter() - t
        assert report.ok, report.problems
        per_month_verify = verify_s / (args.months + 1)
        per_line = verify_s / (lines_total + lines_total / args.months)
        year_lines = lines_total / args.months * 12
        out.update({
            "lines": lines_total, "close_seconds": close_s, "restate_seconds": restate_s,
            "verify_seconds": verify_s, "verify_lines_per_s": round(1 / per_line),
            "year_lines_estimate": int(year_lines),
            "year_verify_seconds_estimate": round(year_lines * per_line, 1),
            "year_close_seconds_estimate": round(sum(close_s) / args.months * 12, 1),
        })  # fmt: skip
        print(
            f"verify: {report.entries} entries, {lines_total:,} lines + restatement "
            f"in {verify_s:.1f} s ({1 / per_line:,.0f} lines/s; {per_month_verify:.1f} s/entry)"
        )
        print(
            f"fiscal year at this scale (12 months, {year_lines:,.0f} lines): verify ≈ "
            f"{out['year_verify_seconds_estimate']} s, closing 12 months ≈ "
            f"{out['year_close_seconds_estimate']} s"
        )
        store.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    dest = ROOT / "loadtest" / "results" / "audit-latest.json"
    dest.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {dest}")


if __name__ == "__main__":
    main()
