"""First run of ``cloudtally up``: a history that shows every capability at once.

Run once per data folder, in its own process *before* the worker starts (chDB lets
one process own the folder), by :func:`prepare`; one function per step (:data:`STEPS`):

1. the simulated fleet (the same ``Fleet`` the simulator then streams, so inventory and
   samples agree) with its history written straight to the store: disk usage from the
   first day of the month two months back (the storage-idle rule needs two complete
   months), CPU and memory at 900 s (the simulator's 300 s stream fills
   them in), and at 60 s over the last 15 days (the packaged
   policy expects 60 s samples; the 14-day idle and rightsizing windows need full coverage);
   with the collector's heartbeats, as the simulator sends them, and a planted pool
   outage last month (:func:`outage_of`), so availability and an SLA credit show;
2. rollups and rating of every closed day;
3. the two complete months closed and issued, as the buyer does at month end: their
   volume tiers and SLA credits (the planted outage's) become final statement lines;
4. a provider invoice for last month generated from those bill lines with every
   planted error (the SLA credit left out: rule S1), imported and verified;
5. a rightsizing round opened over the last 14 days;
6. this fiscal year's budgets, from the history's run-rate, published as a new policy
   version (``firstrun_budget``; ``up`` then runs on that policy file).

The simulator then streams the same fleet, with the same outage and its own heartbeats,
from the history's start (its 300 s samples collapse onto the stored ones by key) and
on in real time. A marker file (``firstrun.json``) keeps later runs from doing it again.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cloudtally.console import firstrun_budget

MARKER = "firstrun.json"
DAY_S = 86_400
FINE_DAYS = 15  # the idle and the console's rightsizing windows (14 days), plus one
COARSE_S, FINE_S = 900, 60  # sample intervals of the history and of its last 15 days
# The history's own sources, one per sample interval (samples are keyed by VM and time,
# so the simulator's later stream still lands on the same rows). One source would do too
# (a beat vouches for the shortest interval in force at its end, docs/availability.md);
# two keep each history's beats and samples apart.
SOURCES = {COARSE_S: "firstrun-900s", FINE_S: "firstrun-60s"}
OUTAGE_POOL, OUTAGE_S = "pool-1", 90 * 60


def _month_start(day: dt.date, back: int) -> dt.date:
    y, m = day.year, day.month - back
    while m < 1:
        y, m = y - 1, m + 12
    return dt.date(y, m, 1)


def _insert_samples(
    store: Any, chunks: Any, version: int, interval: int, partitions: int, vm_part: Any
) -> tuple[int, int]:
    """The chunks' samples (declaring their interval) and, after them, their heartbeats:
    what the simulator would have sent, written straight to the store."""
    source = SOURCES[interval]
    from cloudtally.collectors.simbeats import chunk_beats
    from cloudtally.worker.heartbeats import insert_heartbeats

    n_samples = n_disks = 0
    for c in chunks:
        s = c.samples
        if len(s):
            n = len(s.ts)
            n_samples += store.insert(
                "samples",
                {"vm_id": s.vm_id, "ts": s.ts, "cpu_pct": s.cpu_pct, "mem_pct": s.mem_pct,
                 "source": np.full(n, source, dtype=object),
                 "version": np.full(n, version, dtype=np.uint64),
                 "interval_s": np.full(n, interval, dtype=np.uint32)},
            )  # fmt: skip
        d = c.disks
        if len(d):
            n = len(d.ts)
            n_disks += store.insert(
                "disk_samples",
                {"vm_id": d.vm_id, "disk_id": d.disk_id, "ts": d.ts, "used_gb": d.used_gb,
                 "source": np.full(n, source, dtype=object),
                 "version": np.full(n, version, dtype=np.uint64)},
            )  # fmt: skip
        insert_heartbeats(store, chunk_beats(source, partitions, c, vm_part), int(time.time()),
                          version)  # fmt: skip
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


def outage_of(today: dt.date, zone: Any) -> tuple[str, int, int]:
    """The planted outage: pool-1 (provider-a, whose contract has SLA credit steps) down
    10:00–11:30 on the 10th of last month — a closed month, in the 900 s history (the
    fine 60 s samples cover only the last 15 days), long enough to fall below 99.9 %."""
    last = _month_start(today, 1)
    t0 = int(dt.datetime(last.year, last.month, 10, 10, tzinfo=zone).timestamp())
    return OUTAGE_POOL, t0, t0 + OUTAGE_S


@dataclass
class Demo:
    """What the first run's steps share: the store, the policy, the fleet and its times."""

    settings: Any
    store: Any
    pol: Any
    fleet: Any
    now: int
    today: dt.date
    first_day: dt.date
    version: int
    record: dict[str, Any] = field(default_factory=dict)

    def day_start(self, day: dt.date) -> dt.datetime:
        return dt.datetime(day.year, day.month, day.day, tzinfo=self.pol.zone)


def _history(d: Demo) -> str:
    """Inventory, then CPU/memory at 900 s and at 60 s over the last 15 days, disks, beats."""
    from cloudtally.core.samples import partition_for

    _inventory(d.store, d.fleet, d.version)
    parts = d.settings.samples_partitions
    vm_part = np.array([partition_for(v, parts) for v in d.fleet.vm_ids], dtype=np.int32)
    start = int(d.day_start(d.first_day).timestamp())
    fine = (d.now - FINE_DAYS * DAY_S) // 300 * 300
    n1, d1 = _insert_samples(d.store, d.fleet.samples(start, fine, COARSE_S), d.version,
                             COARSE_S, parts, vm_part)  # fmt: skip
    n2, d2 = _insert_samples(d.store, d.fleet.samples(fine, d.now, FINE_S), d.version, FINE_S,
                             parts, vm_part)  # fmt: skip
    return f"history {n1 + n2:,} samples, {d1 + d2:,} disk samples"


def _rollups(d: Demo) -> str:
    from cloudtally.analytics.rollups import hours_of_days, recompute_days, recompute_hours

    version_now = d.pol.version_at(dt.datetime.fromtimestamp(d.now, d.pol.zone))
    cal, util = version_now.calendar, version_now.utilization
    ids = [v.vm_id for v in d.fleet.vms]
    day = d.first_day
    while day < d.today:  # closed days only; a week at a time keeps each INSERT … SELECT small
        nxt = min(d.today, day + dt.timedelta(days=7))
        h0, h1 = hours_of_days(day, nxt, str(d.pol.zone))
        recompute_hours(d.store, ids, h0, h1, cal, util)
        recompute_days(d.store, ids, day, nxt, cal, util)
        day = nxt
    return "rollups"


def _rating(d: Demo) -> str:
    """Every closed day rated."""
    from cloudtally.billing.rate import rate_period

    rate_period(d.store, d.pol, d.day_start(d.first_day), d.day_start(d.today),
                actor="first run", reason="demo history")  # fmt: skip
    return "rating"


def _close(d: Demo) -> str:
    """The history's complete months closed and issued (revision 0), oldest first: their
    final volume-tier and SLA-credit lines, which the invoice is then checked against."""
    from cloudtally.billing.rate import close_month

    months = [d.first_day, _month_start(d.today, 1)]
    for month in months:
        close_month(d.store, d.pol, month, actor="first run")
    d.record["closed"] = [f"{m:%Y-%m}" for m in months]
    return f"closed {', '.join(d.record['closed'])}"


def _invoice(d: Demo) -> str:
    """Last month's provider-a invoice from the bill lines, every error planted; verified."""
    from cloudtally.invoices.generator import ALL_ERRORS, generate_invoice, render_provider_csv
    from cloudtally.invoices.importer import import_invoice
    from cloudtally.invoices.service import verify_invoice
    from cloudtally.invoices.store import load_expected

    last = _month_start(d.today, 1)
    span = (d.day_start(last), d.day_start(d.today.replace(day=1)))
    exp, lifecycle, credits = load_expected(d.store, "provider-a", span)
    lines, planted = generate_invoice(exp, lifecycle, errors=ALL_ERRORS, credits=credits)
    data = render_provider_csv(lines, encoding="gb18030")
    folder = Path(d.settings.data_dir) / "demo"
    folder.mkdir(parents=True, exist_ok=True)
    invoice_file = folder / f"provider-a-{last:%Y-%m}-invoice.csv"
    invoice_file.write_bytes(data)
    imported = import_invoice(d.store, data, provider="provider-a", file_name=invoice_file.name,
                              imported_by="first run")  # fmt: skip
    verify_invoice(d.store, imported.invoice_id)
    d.record |= {"invoice_id": imported.invoice_id, "invoice_file": str(invoice_file)}
    return f"invoice {imported.invoice_id} ({len(lines)} lines, {len(planted)} planted)"


def _round(d: Demo) -> str:
    """A rightsizing round over the last 14 days, opened by the buyer."""
    from cloudtally.api.routes.utilization import annual_prices
    from cloudtally.core.access import Principal
    from cloudtally.core.idle import UnitPrices
    from cloudtally.rounds import store as rounds

    review_from = d.today - dt.timedelta(days=14)
    _label, of = annual_prices(d.pol, d.today - dt.timedelta(days=1))
    round_id = rounds.open_round(
        d.store, d.pol, Principal("admin", "admin"), review_from, d.today,
        quarter=f"{d.today.year}-Q{(d.today.month - 1) // 3 + 1}",
        prices=lambda s: of(s) or UnitPrices(0, 0),  # type: ignore[arg-type]
    )  # fmt: skip
    d.record["round_id"] = round_id
    return f"round {round_id}"


STEPS: tuple[Callable[[Demo], str], ...] = (
    _history,
    _rollups,
    _rating,
    _close,
    _invoice,
    _round,
    firstrun_budget.publish,
)


def build(
    settings: Any, *, vms: int, seed: int, now: int | None = None, store: Any = None
) -> dict[str, Any]:
    """Write the demo history into the store of ``settings`` (the caller owns the folder),
    or into ``store`` (left open: the first-run test's pooled database)."""
    from cloudtally.collectors.fleet import Fleet
    from cloudtally.policy import current_policy
    from cloudtally.store import open_store
    from cloudtally.store.migrate import migrate

    pol = current_policy(settings.policy_file)
    now = int(now or time.time()) // 300 * 300
    today = dt.datetime.fromtimestamp(now, pol.zone).date()
    first_day = _month_start(today, 2)
    start = int(dt.datetime(first_day.year, first_day.month, first_day.day, tzinfo=pol.zone)
                .timestamp())  # fmt: skip
    fleet = Fleet.build(seed, vms, 2, 20, start=start, end=now)
    outage = outage_of(today, pol.zone)
    down = fleet.plant_outage(*outage)
    own = store is None
    store = store or open_store(settings.resolved_store_url, settings.database)
    demo = Demo(settings, store, pol, fleet, now, today, first_day, time.time_ns() // 1_000_000)
    timings: dict[str, float] = {}
    try:
        if own:
            migrate(store)
        for run in STEPS:
            clock = time.perf_counter()
            said = run(demo)
            timings[said.split(" ")[0]] = took = round(time.perf_counter() - clock, 1)
            print(f"  first run: {said} ({took} s)", flush=True)
    finally:
        if own:
            store.close()
    return {
        "start": start, "end": now, "vms": vms, "seed": seed, **demo.record,
        "outage": {"pool": outage[0], "from": outage[1], "to": outage[2], "vms": len(down)},
        "timings": timings,
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
    args = ["--start", start, "--end", end]
    o = record.get("outage")
    if o:  # the same planted outage, or the stream would fill the history's silence
        args += ["--outage", f"{o['pool']},{o['from']},{o['to']}"]
    return args


def banner(base: str, record: dict[str, Any], plain: dict[str, str]) -> list[str]:
    """``up``'s console lines in the CLI's language: the URL, the demo invoice and round,
    and the tokens to sign in with (values as they are)."""
    from cloudtally.i18n import cli_lang, translate

    _ = translate(cli_lang())
    bureau = next((k for k in plain if k.startswith("bureau:")), None)
    lines = [
        _("cli.out.up.console", url=f"{base}/"),
        _("cli.out.up.demo", invoice=record["invoice_id"], round=record["round_id"]),
    ]
    if plain:
        lines.append(_("cli.out.up.sign_in_buyer", token=plain.get("admin")))
        if bureau:
            lines.append(_("cli.out.up.sign_in_bureau", bureau=bureau, token=plain[bureau]))
    return lines


def main() -> None:
    from cloudtally.settings import Settings

    vms, seed = int(sys.argv[1]), int(sys.argv[2])
    settings = Settings()
    record = build(settings, vms=vms, seed=seed)
    (Path(settings.data_dir) / MARKER).write_text(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
