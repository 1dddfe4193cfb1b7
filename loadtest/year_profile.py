"""Where a year fixture build spends its time: every store statement timed, by kind.

Builds a small year (default 1,500 VMs x 1 month) with ``year_fixture.build_year`` and
times each statement the build sends to the store (raw generation, the worker's rollup
and rating steps, closing), grouped by the statement's first words; prints the top
groups with their share of the build and writes them with the step totals:

    python loadtest/year_profile.py --vms 1500 --months 1
    python loadtest/year_profile.py --vms 500 --months 5 --out loadtest/results/x.json

Per-month step figures say whether a month costs more as the year fills up (the
question behind a 500-VM year whose rollups once took 1,612 s at load 11-34).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from cloudtally.store import open_store
from cloudtally.store.migrate import migrate
from year_fixture import ROOT, build_year, machine


def statement_kind(sql: str) -> str:
    """A statement's group: its first 90 characters, whitespace collapsed (the table and
    the columns name it; parameters come later)."""
    return re.sub(r"\s+", " ", sql).strip()[:90]


def timed(run: Callable[[str, str], Any], stats: dict[str, list[float]]) -> Callable[..., Any]:
    """Wrap a store's statement runner so each call adds (count, seconds) to its group."""

    def wrapper(sql: str, fmt: str) -> Any:
        started = time.perf_counter()
        try:
            return run(sql, fmt)
        finally:
            entry = stats[statement_kind(sql)]
            entry[0] += 1
            entry[1] += time.perf_counter() - started

    return wrapper


def main() -> None:
    from cloudtally.billing.cli import example_policy_text
    from cloudtally.core.policy import load_policy

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--vms", type=int, default=1500)
    ap.add_argument("--months", type=int, default=1)
    ap.add_argument("--top", type=int, default=15)
    ap.add_argument("--folder", default="/tmp/cloudtally-year-profile")
    ap.add_argument("--out", default=str(ROOT / "loadtest/results/year-profile-latest.json"))
    args = ap.parse_args()
    shutil.rmtree(args.folder, ignore_errors=True)
    store = open_store(f"chdb://{args.folder}", "year")
    stats: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
    load_before = machine()["load_average"]
    try:
        migrate(store)
        store._run = timed(store._run, stats)  # type: ignore[attr-defined]
        started = time.perf_counter()
        rep = build_year(store, load_policy(example_policy_text()), vms=args.vms,
                         months=args.months, log=lambda s: print(s, flush=True))  # fmt: skip
        wall = time.perf_counter() - started
    finally:
        store.close()
        shutil.rmtree(args.folder, ignore_errors=True)
    groups = sorted(stats.items(), key=lambda kv: -kv[1][1])
    result = {
        "vms": args.vms,
        "months": args.months,
        "wall_seconds": round(wall, 1),
        "seconds": rep.seconds,
        "per_month": rep.per_month,
        "samples": rep.samples,
        "usage_hours": rep.tables.get("usage_hourly", {}).get("rows", 0),
        "bill_lines": rep.bill_lines,
        "statements": [
            {"kind": k, "calls": int(n), "seconds": round(s, 2), "share": round(s / wall, 3)}
            for k, (n, s) in groups
            if s >= 0.01
        ],
        "machine": machine() | {"load_average_before": load_before},
        "report": asdict(rep)["tables"],
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"\n{args.vms} VMs x {args.months} months in {wall:.1f} s: {rep.seconds}")
    for entry in result["statements"][: args.top]:
        print(
            f"{entry['seconds']:8.2f} s {entry['share']:6.1%} {entry['calls']:5d}x  {entry['kind']}"
        )
    print(f"(load average {load_before} before, {result['machine']['load_average']} after)")


if __name__ == "__main__":
    main()
