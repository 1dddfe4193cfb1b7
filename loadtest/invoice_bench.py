"""Invoice import + verification speed (issue 5): 100k lines target ≤ 10 s; 1M reported.

Seeds a chDB store with the bill lines and inventory of a simulated fleet (not
timed), writes the fleet's invoice as provider CSV (Chinese headers, with a
few planted errors), then times: import (hash, parse, validate, insert),
verification (load lines, load expected charges from bill_lines, verify,
store findings) and the findings/summary queries.

    .venv/bin/python loadtest/invoice_bench.py --lines 100000
    .venv/bin/python loadtest/invoice_bench.py --lines 1000000
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import shutil
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from cloudtally.invoices import store as inv_store
from cloudtally.invoices.generator import generate_invoice, render_provider_csv, simulate_fleet
from cloudtally.invoices.importer import import_invoice
from cloudtally.invoices.service import verify_invoice
from cloudtally.store import open_store
from cloudtally.store.migrate import migrate

PROVIDER = "provider-a"


def seed(store, expected, vms) -> None:  # type: ignore[no-untyped-def]
    day = (expected[0].period_start + dt.timedelta(days=14)).date()
    step = 200_000
    for i in range(0, len(expected), step):
        part = expected[i : i + step]
        n = len(part)
        adj = []
        for e in part:
            rules = [{"rule": "tender_discount", "pay": "0.55"}]
            if len(e.adjustments) > 1:
                rules.append({"rule": "low_utilization", "cut": "0.3"})
            adj.append(json.dumps(rules))
        store.insert(
            "bill_lines",
            {
                "vm_id": [e.resource_id for e in part],
                "day": [day] * n,
                "month": [day] * n,
                "fiscal_year": [2024] * n,
                "bureau": [e.bureau for e in part],
                "system": ["s"] * n,
                "pool": [e.pool for e in part],
                "provider": [PROVIDER] * n,
                "resource": [e.resource_type for e in part],
                "tariff_version": ["sim-1"] * n,
                "quantity": [e.quantity for e in part],
                "unit": [e.unit for e in part],
                "unit_price": [e.unit_price for e in part],
                "price_divisor": [1] * n,
                "list_amount": [e.list_amount for e in part],
                "after_discount": [e.discounted_amount for e in part],
                "after_cut": [e.expected_amount for e in part],
                "adjustments": adj,
                "hours": [e.metered_hours + e.gap_hours for e in part],
                "unmetered_hours": [int(e.gap_hours) for e in part],
                "run_id": ["r1"] * n,
                "version": [1] * n,
            },
        )
    ids = sorted({e.resource_id for e in expected})
    store.insert(
        "bill_current",
        {
            "vm_id": ids,
            "day": [day] * len(ids),
            "run_id": ["r1"] * len(ids),
            "version": [1] * len(ids),
        },
    )
    lcs = list(vms.values())
    store.insert(
        "vm_inventory",
        {
            "vm_id": [x.vm_id for x in lcs],
            "event_ts": [int(x.created_at.timestamp()) for x in lcs],
            "event": ["created"] * len(lcs),
            "name": [""] * len(lcs),
            "bureau": [x.bureau for x in lcs],
            "system": ["s"] * len(lcs),
            "pool": [x.pool for x in lcs],
            "provider": [PROVIDER] * len(lcs),
            "vcpu": [4] * len(lcs),
            "mem_gb": [Decimal(8)] * len(lcs),
            "version": [1] * len(lcs),
        },
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=100_000)
    ap.add_argument("--store", default="", help="store URL (default: a fresh chDB folder)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="invoice-bench-"))
    url = args.store or f"chdb://{tmp / 'chdb'}"
    t0 = time.perf_counter()
    expected, vms = simulate_fleet(seed=1, vms=args.lines // 3 + 1, bureaus=300, pools=3)
    expected = expected[: args.lines]
    lines, planted = generate_invoice(expected, vms, errors=["Q1", "U1", "R2", "B1", "D1"])
    csv_path = tmp / "invoice.csv"
    csv_path.write_bytes(render_provider_csv(lines))
    store = open_store(url, "invoice_bench")
    migrate(store)
    seed(store, expected, vms)
    setup = time.perf_counter() - t0
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    t1 = time.perf_counter()
    res = import_invoice(store, csv_path, provider=PROVIDER)
    t_import = time.perf_counter() - t1
    t2 = time.perf_counter()
    run = verify_invoice(store, res.invoice_id)
    t_verify = time.perf_counter() - t2
    t3 = time.perf_counter()
    rows = inv_store.findings(store, res.invoice_id)
    summary = inv_store.summary(store, res.invoice_id)
    t_query = time.perf_counter() - t3
    ok = sorted(
        (r["rule_id"], tuple(r["line_numbers"]), r["amount_at_stake"]) for r in rows
    ) == sorted((p.rule_id, p.line_numbers, p.amount_at_stake) for p in planted)
    out = {
        "engine": store.engine,
        "lines": res.rows,
        "file_mb": round(csv_path.stat().st_size / 1e6, 1),
        "setup_s (not timed: fleet, CSV, seeding)": round(setup, 1),
        "import_s": round(t_import, 2),
        "verify_s": round(t_verify, 2),
        "import_plus_verify_s": round(t_import + t_verify, 2),
        "findings_summary_query_s": round(t_query, 2),
        "findings": run["findings"],
        "findings_exact": ok,
        "billed_total": str(summary["billed_total"]),
        "max_rss_mb_before_import": rss0 // 1024,
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
    }
    print(json.dumps(out, indent=2, ensure_ascii=False))
    store.close()
    shutil.rmtree(tmp, ignore_errors=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
