"""Invoice import + verification speed (issue 5): 100k lines target ≤ 10 s; 1M reported.

Seeds a chDB store with the bill lines and inventory of a simulated fleet (not
timed), writes the fleet's invoice as provider CSV (Chinese headers, with a
few planted errors), then times: import (hash, parse, validate, insert),
verification (load lines, load expected charges from bill_lines, verify,
store findings) and the findings/summary queries. Import and verification run
in a fresh child process, so the peak RSS reported is theirs (the generator's
own fleet and invoice are not counted).

    .venv/bin/python loadtest/invoice_bench.py --lines 100000
    .venv/bin/python loadtest/invoice_bench.py --lines 1000000
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cloudtally.invoices import store as inv_store
from cloudtally.invoices.generator import (
    generate_invoice,
    render_provider_csv,
    seed_metering,
    simulate_fleet,
)
from cloudtally.invoices.importer import import_invoice
from cloudtally.invoices.service import verify_invoice
from cloudtally.store import open_store
from cloudtally.store.migrate import migrate

PROVIDER = "provider-a"


def peak_rss_mb() -> int:
    """This process's peak RSS (VmHWM: unlike ru_maxrss it is not inherited across exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) // 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def run_phase(url: str, tmp: Path) -> dict[str, object]:
    """Import + verify in this (fresh) process, so its peak RSS is theirs alone."""
    planted = json.loads((tmp / "planted.json").read_text())
    csv_path = tmp / "invoice.csv"
    from cloudtally.settings import Settings

    # As the CLI and the API open it: with the chDB cache settings (CLOUDTALLY_CHDB_*).
    store = open_store(Settings(store_url=url).resolved_store_url, "invoice_bench")
    # A serving process has these loaded already; the first Arrow insert would
    # otherwise pay pandas' import (~0.4 s) inside the timed import.
    import pandas  # noqa: F401
    import pyarrow  # noqa: F401

    rss0 = peak_rss_mb()
    t1 = time.perf_counter()
    res = import_invoice(store, csv_path, provider=PROVIDER)
    t_import = time.perf_counter() - t1
    rss_import = peak_rss_mb()
    t2 = time.perf_counter()
    run = verify_invoice(store, res.invoice_id)
    t_verify = time.perf_counter() - t2
    t3 = time.perf_counter()
    rows = inv_store.findings(store, res.invoice_id)
    summary = inv_store.summary(store, res.invoice_id)
    t_query = time.perf_counter() - t3
    ok = sorted(
        (r["rule_id"], list(r["line_numbers"]), str(r["amount_at_stake"])) for r in rows
    ) == sorted((p[0], p[1], p[2]) for p in planted)
    out = {
        "engine": store.engine,
        "lines": res.rows,
        "file_mb": round(csv_path.stat().st_size / 1e6, 1),
        "import_s": round(t_import, 2),
        "verify_s": round(t_verify, 2),
        "import_plus_verify_s": round(t_import + t_verify, 2),
        "findings_summary_query_s": round(t_query, 2),
        "findings": run["findings"],
        "findings_exact": ok,
        "billed_total": str(summary["billed_total"]),
        "rss_mb_after_open": rss0,
        "peak_rss_mb_import": rss_import,
        "peak_rss_mb_import_verify": peak_rss_mb(),
    }
    store.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=100_000)
    ap.add_argument("--store", default="", help="store URL (default: a fresh chDB folder)")
    ap.add_argument("--run-in", default="", help=argparse.SUPPRESS)  # the measured child
    args = ap.parse_args()
    if args.run_in:
        print(json.dumps(run_phase(args.store, Path(args.run_in))))
        return
    tmp = Path(tempfile.mkdtemp(prefix="invoice-bench-"))
    url = args.store or f"chdb://{tmp / 'chdb'}"
    t0 = time.perf_counter()
    expected, vms = simulate_fleet(seed=1, vms=args.lines // 3 + 1, bureaus=300, pools=3)
    expected = expected[: args.lines]
    lines, planted = generate_invoice(expected, vms, errors=["Q1", "U1", "R2", "B1", "D1"])
    csv_path = tmp / "invoice.csv"
    csv_path.write_bytes(render_provider_csv(lines))
    (tmp / "planted.json").write_text(
        json.dumps([(p.rule_id, list(p.line_numbers), str(p.amount_at_stake)) for p in planted])
    )
    store = open_store(url, "invoice_bench")
    migrate(store)
    seed_metering(store, expected, vms)
    store.close()  # chDB: one process per folder; the measured child opens it
    del expected, vms, lines
    setup = time.perf_counter() - t0
    child = subprocess.run(
        [sys.executable, __file__, "--store", url, "--run-in", str(tmp)],
        capture_output=True,
        text=True,
        check=False,
    )
    if child.returncode != 0:
        print(child.stdout, child.stderr, file=sys.stderr)
        shutil.rmtree(tmp, ignore_errors=True)
        sys.exit(2)
    out = {"setup_s (not timed: fleet, CSV, seeding)": round(setup, 1)}
    out.update(json.loads(child.stdout.strip().splitlines()[-1]))
    import os

    out["machine"] = {"cpus": os.cpu_count(),
                      "load_average": [round(x, 2) for x in os.getloadavg()]}  # fmt: skip
    text = json.dumps(out, indent=2, ensure_ascii=False)
    print(text)
    (Path(__file__).resolve().parent / "results/invoice-latest.json").write_text(text + "\n")
    shutil.rmtree(tmp, ignore_errors=True)
    sys.exit(0 if out["findings_exact"] else 1)


if __name__ == "__main__":
    main()
