"""First run of ``cloudtally up``: a history that shows every capability at once.

Run once per data folder, in its own process *before* the worker starts (chDB lets
one process own the folder), by :func:`prepare`:

1. the simulated fleet (the same ``Fleet`` the simulator then streams, so inventory and
   samples agree) with its history written straight to the store: disk usage from the
   first day of the month two months back (the storage-idle rule needs two complete
   months), CPU and memory at 900 s (the simulator's 300 s stream fills
   them in), and at 60 s over the last 15 days (the packaged
   policy expects 60 s samples; the 14-day idle and rightsizing windows need full coverage);
2. rollups and rating of every closed day;
3. a provider invoice for last month generated from those bill lines with every
   planted error, imported and verified;
4. a rightsizing round opened over the last 14 days.

The simulator then streams the same fleet from the history's start (its 300 s samples
collapse onto the stored ones by key) and on in real time. A marker file
(``firstrun.json``) keeps later runs from doing it again.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

MARKER = "firstrun.json"
DAY_S = 86_400
FINE_DAYS = 15  # the idle and the console's rightsizing windows (14 days), plus one


def _month_start(day: dt.date, back: int) -> dt.date:
    y, m = day.year, day.month - back
    while m < 1:
        y, m = y - 1, m + 12
    return dt.date(y, m, 1)


def _insert_samples(store: Any, chunks: Any, version: int) -> tuple[int, int]:
    n_samples = n_disks = 0
    for c in chunks:
        s = c.samples
        if len(s):
            n = len(s.ts)
            n_samples += store.insert(
                "samples",
                {"vm_id": s.vm_id, "ts": s.ts, "cpu_pct": s.cpu_pct, "mem_pct": s.mem_pct,
                 "source": np.full(n, "simulate", dtype=object),
                 "version": np.full(n, version, dtype=np.uint64)},
            )  # fmt: skip
        d = c.disks
        if len(d):
            n = len(d.ts)
            n_disks += store.insert(
                "disk_samples",
                {"vm_id": d.vm_id, "disk_id": d.disk_id, "ts": d.ts, "used_gb": d.used_gb,
                 "source": np.full(n, "simulate", dtype=object),
                 "version": np.full(n, version, dtype=np.uint64)},
            )  # fmt: skip
    return n_samples, n_disks


def _inventory(store: Any, fleet: Any, version: int) -> int:
    rows: dict[str, list[Any]] = {k: [] for k in (
        "vm_id", "event_ts", "event", "name", "bureau", "system", "pool", "provider", "vcpu",
        "mem_gb", "disk_ids", "disk_size_gb", "disk_tiers", "version")}  # fmt: skip
    for ev in fleet.inventory_events():
        for k, v in (
            ("vm_id", ev.vm_id), ("event_ts", ev.ts), ("event", ev.event), ("name", ev.name),
            ("bureau", ev.bureau), ("system", ev.system), ("pool", ev.pool),
            ("provider", ev.provider), ("vcpu", ev.vcpu), ("mem_gb", ev.mem_gb),
            ("disk_ids", [d.disk_id for d in ev.disks]),
            ("disk_size_gb", [d.size_gb for d in ev.disks]),
            ("disk_tiers", [d.tier for d in ev.disks]), ("version", version),
        ):  # fmt: skip
            rows[k].append(v)
    return store.insert("vm_inventory", rows)


def build(settings: Any, *, vms: int, seed: int, now: int | None = None) -> dict[str, Any]:
    """Write the demo history into the store of ``settings`` (the caller owns the folder)."""
    from cloudtally.analytics.rollups import hours_of_days, recompute_days, recompute_hours
    from cloudtally.api.routes.utilization import annual_prices
    from cloudtally.billing.rate import rate_period
    from cloudtally.collectors.fleet import Fleet
    from cloudtally.core.access import Principal
    from cloudtally.core.idle import UnitPrices
    from cloudtally.invoices.generator import (
        ALL_ERRORS,
        generate_invoice,
        render_provider_csv,
    )
    from cloudtally.invoices.importer import import_invoice
    from cloudtally.invoices.service import verify_invoice
    from cloudtally.invoices.store import load_expected
    from cloudtally.policy import current_policy
    from cloudtally.rounds import store as rounds
    from cloudtally.store import open_store
    from cloudtally.store.migrate import migrate

    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def step(name: str) -> None:
        nonlocal clock
        timings[name] = round(time.perf_counter() - clock, 1)
        clock = time.perf_counter()
        print(f"  first run: {name} ({timings[name]} s)", flush=True)

    pol = current_policy(settings.policy_file)
    zone = pol.zone
    now = int(now or time.time()) // 300 * 300
    today = dt.datetime.fromtimestamp(now, zone).date()
    first_day = _month_start(today, 2)
    start = int(dt.datetime(first_day.year, first_day.month, first_day.day, tzinfo=zone)
                .timestamp())  # fmt: skip
    fine = now - FINE_DAYS * DAY_S
    fine = fine // 300 * 300
    fleet = Fleet.build(seed, vms, 2, 20, start=start, end=now)
    version = time.time_ns() // 1_000_000
    store = open_store(settings.resolved_store_url, settings.database)
    try:
        migrate(store)
        _inventory(store, fleet, version)
        n1, d1 = _insert_samples(store, fleet.samples(start, fine, 900), version)
        n2, d2 = _insert_samples(store, fleet.samples(fine, now, 60), version)
        step(f"history {n1 + n2:,} samples, {d1 + d2:,} disk samples")
        d_end = today  # closed days only
        version_now = pol.version_at(dt.datetime.fromtimestamp(now, zone))
        cal, util = version_now.calendar, version_now.utilization
        ids = [v.vm_id for v in fleet.vms]
        day = first_day
        while day < d_end:  # a week at a time keeps each INSERT … SELECT small
            nxt = min(d_end, day + dt.timedelta(days=7))
            h0, h1 = hours_of_days(day, nxt, str(zone))
            recompute_hours(store, ids, h0, h1, cal, util)
            recompute_days(store, ids, day, nxt, cal, util)
            day = nxt
        step("rollups")
        t0 = dt.datetime(first_day.year, first_day.month, first_day.day, tzinfo=zone)
        t1 = dt.datetime(d_end.year, d_end.month, d_end.day, tzinfo=zone)
        rate_period(store, pol, t0, t1, actor="first run", reason="demo history")
        step("rating")
        last = _month_start(today, 1)
        m0 = dt.datetime(last.year, last.month, 1, tzinfo=zone)
        m1 = dt.datetime(today.year, today.month, 1, tzinfo=zone)
        exp, lifecycle, credits = load_expected(store, "provider-a", (m0, m1))
        lines, planted = generate_invoice(exp, lifecycle, errors=ALL_ERRORS, credits=credits)
        data = render_provider_csv(lines, encoding="gb18030")
        folder = Path(settings.data_dir) / "demo"
        folder.mkdir(parents=True, exist_ok=True)
        invoice_file = folder / f"provider-a-{last:%Y-%m}-invoice.csv"
        invoice_file.write_bytes(data)
        imported = import_invoice(store, data, provider="provider-a", file_name=invoice_file.name,
                                  imported_by="first run")  # fmt: skip
        verify_invoice(store, imported.invoice_id)
        step(f"invoice {imported.invoice_id} ({len(lines)} lines, {len(planted)} planted)")
        review_to = today
        review_from = today - dt.timedelta(days=14)
        _label, of = annual_prices(pol, review_to - dt.timedelta(days=1))
        round_id = rounds.open_round(
            store, pol, Principal("admin", "admin"), review_from, review_to,
            quarter=f"{today.year}-Q{(today.month - 1) // 3 + 1}",
            prices=lambda s: of(s) or UnitPrices(0, 0),  # type: ignore[arg-type]
        )  # fmt: skip
        step(f"round {round_id}")
    finally:
        store.close()
    return {
        "start": start, "end": now, "vms": vms, "seed": seed, "invoice_id": imported.invoice_id,
        "invoice_file": str(invoice_file), "round_id": round_id, "timings": timings,
    }  # fmt: skip


def prepare(settings: Any, data_dir: Path, *, vms: int, seed: int) -> dict[str, Any]:
    """The first run's record (built now in a child process if this folder has none)."""
    marker = data_dir / MARKER
    if not marker.exists():
        print("first run: writing a demo history (a few minutes; only this once) ...", flush=True)
        env = {**settings.as_env(), "CLOUDTALLY_DATA_DIR": str(data_dir)}
        import os

        subprocess.run(
            [sys.executable, "-m", "cloudtally.console.firstrun", str(vms), str(seed)],
            env={**os.environ, **env}, check=True,
        )  # fmt: skip
    return dict(json.loads(marker.read_text()))


def simulator_args(record: dict[str, Any]) -> list[str]:
    """The simulator streams the same fleet: the history's range, then real time."""
    fmt = "%Y-%m-%dT%H:%M:%S+00:00"
    start = dt.datetime.fromtimestamp(record["start"], dt.UTC).strftime(fmt)
    end = dt.datetime.fromtimestamp(record["end"], dt.UTC).strftime(fmt)
    return ["--start", start, "--end", end]


def banner(base: str, record: dict[str, Any], plain: dict[str, str]) -> list[str]:
    bureau = next((k for k in plain if k.startswith("bureau:")), None)
    lines = [
        f"  console       {base}/   (中文; English at the top right)",
        f"    demo invoice {record['invoice_id']}   round {record['round_id']}",
    ]
    if plain:
        lines.append(f"    sign in as the buyer:  {plain.get('admin')}")
        if bureau:
            lines.append(f"    sign in as {bureau}:  {plain[bureau]}")
    return lines


def main() -> None:
    from cloudtally.settings import Settings

    vms, seed = int(sys.argv[1]), int(sys.argv[2])
    settings = Settings()
    record = build(settings, vms=vms, seed=seed)
    (Path(settings.data_dir) / MARKER).write_text(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
