"""Console page server times at Hainan scale: 15,000 VMs and a month of bill lines.

Seeds chDB (``--fixture DIR`` keeps it for the next run) in SQL: the inventory of 15,000
VMs (300 bureaus, 1,000 systems, four pools), a month of usage_hourly (January 2023, the
rating benchmark's generator: ~3 % gaps, every 7th VM idle), the daily rollups, then
rates the month (about 2 M bill lines) with the rating step itself; then furnishes what
the buyer's pages read: provider-a's January invoice generated from those bill lines with
every error planted, verified, and a rightsizing round over the last 14 days.

Then requests every console page through the real app (in-process ASGI client: the
figure is the server's time, not the network's) as several signed-in users — the buyer,
an auditor and four bureaus — each on its own systems, VMs and bureaus, search typed key
by key. Two figures per page:

* **cold**: the first request after a data change — every kept result dropped just before
  it (:func:`forget`, what a rating run, a close or an import does to the pages it feeds);
  with ``--warmed``: every kept result dropped once, the background warm run
  (:mod:`cloudtally.console.warming`) done, as the API does after such a change, then
  each page's first request;
* **warm**: ``--rounds`` passes over every page and user in a shuffled order (after one
  unmeasured pass), so kept results compete for the cache as with real users.

Prints p50 / p95 / max per page against the goal p95 ≤ 300 ms, with the load average;
writes loadtest/results/<--out> (default console-latest.json).

Usage: python loadtest/console_bench.py [--vms 15000] [--rounds 5] [--fixture DIR]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
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
BUREAUS = ["bureau-7", "bureau-42", "bureau-123", "bureau-250"]

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


def furnish(store: Any, folder: Path) -> dict[str, Any]:
    """The invoice and the round the buyer's pages show (once per fixture): provider-a's
    January invoice from the bill lines, every error planted, verified; a round over the
    month's last 14 days, opened by the buyer."""
    marker = folder / "furnished.json"
    if marker.exists():
        return dict(json.loads(marker.read_text()))
    from cloudtally.api.routes.utilization import annual_prices
    from cloudtally.core.access import Principal
    from cloudtally.core.idle import UnitPrices
    from cloudtally.invoices.generator import ALL_ERRORS, generate_invoice, render_provider_csv
    from cloudtally.invoices.importer import import_invoice
    from cloudtally.invoices.service import verify_invoice
    from cloudtally.invoices.store import load_expected
    from cloudtally.rounds import store as rounds

    policy = load_policy(example_policy_text())
    c = time.perf_counter()
    span = (dt.datetime(2023, 1, 1, tzinfo=SH), dt.datetime(2023, 2, 1, tzinfo=SH))
    exp, lifecycle, credits = load_expected(store, "provider-a", span)
    lines, planted = generate_invoice(exp, lifecycle, errors=ALL_ERRORS, credits=credits)
    imported = import_invoice(store, render_provider_csv(lines, encoding="gb18030"),
                              provider="provider-a", file_name="provider-a-2023-01.csv",
                              imported_by="console bench")  # fmt: skip
    verify_invoice(store, imported.invoice_id)
    invoice_s = round(time.perf_counter() - c, 1)
    c = time.perf_counter()
    _label, of = annual_prices(policy, dt.date(2023, 1, 31))
    round_id = rounds.open_round(
        store, policy, Principal("admin", "admin"), dt.date(2023, 1, 18), dt.date(2023, 2, 1),
        quarter="2023-Q1", prices=lambda s: of(s) or UnitPrices(0, 0),  # type: ignore[arg-type]
    )  # fmt: skip
    done = {"invoice_id": imported.invoice_id, "invoice_lines": len(lines),
            "planted": len(planted), "invoice_s": invoice_s, "round_id": round_id,
            "round_s": round(time.perf_counter() - c, 1)}  # fmt: skip
    marker.write_text(json.dumps(done, indent=2))
    return done


# ---------------------------------------------------------------- who asks for what


def _own(bureau: str, k: int) -> tuple[str, str]:
    """A VM of the bureau (the fixture's VM n belongs to bureau n % 300, system n % 1000)
    and its system."""
    n = int(bureau.split("-")[1]) + 300 * k
    return f"vm-{n}", f"system-{n % 1000}"


def typed(text: str, start: int = 2) -> list[str]:
    """Search as you type: one request per key from the ``start``-th character on."""
    return [f"/console/search/results?q={text[:i]}" for i in range(start, len(text) + 1)]


def user_pages(user: str, furnished: dict[str, Any]) -> dict[str, list[str]]:
    """Each page's URLs as this user asks for them (its own bureaus, systems and VMs)."""
    i = (["admin", "auditor", *BUREAUS].index(user) * 7) % 40
    if user.startswith("bureau-"):
        vm, system = _own(user, 3 + i)
        vm2, system2 = _own(user, 11 + i)
        bureau = ""
    else:
        vm, system = f"vm-{1234 + 97 * i}", f"system-{7 + 31 * i}"
        vm2, system2 = f"vm-{9001 + 13 * i}", f"system-{640 + 3 * i}"
        bureau = f"&bureau=bureau-{60 + i}"
    m = "month=2023-01"
    week = "week=2023-01-16"
    inv, rnd = furnished["invoice_id"], furnished["round_id"]
    pages = {
        "home": ["/console/home", f"/console/home?as_of=2023-02-01{bureau}"],
        "bills": [f"/console/bills?{m}", f"/console/bills?{m}{bureau}"],
        "bills_fy": ["/console/bills?fy=2023"],
        "bills_system": [f"/console/bills?{m}&system={system}",
                         f"/console/bills?{m}&system={system2}"],
        "bills_vm": [f"/console/bills?{m}&system={system}&vm={vm}",
                     f"/console/bills?{m}&system={system2}&vm={vm2}"],
        "utilization_vm": [f"/console/utilization?vm={vm}&{week}&{m}",
                           f"/console/utilization?vm={vm2}&week=2023-01-09&{m}"],
        "utilization_system": [f"/console/utilization?system={system}&{week}&{m}"],
        "candidates": ["/console/candidates"],
        "rounds": ["/console/rounds"],
        "round": [f"/console/rounds/{rnd}"],
        "search": typed(vm) + typed(f"app-{system.split('-')[1]}") + typed(system[:9]),
        "availability": [f"/console/availability?{m}&months=1",
                         f"/console/availability?{m}&months=1&by=system"],
        "invoices": ["/console/invoices"],
        "invoice": [f"/console/invoices/{inv}", f"/console/invoices/{inv}?rule=P1",
                    f"/console/invoices/{inv}?bureau=bureau-{60 + i}&min_amount=10"],
        "faults": [f"/console/faults?{m}&months=1"],
        "scorecards": ["/console/scorecards?fy=2023"],
        "scorecard": ["/console/scorecards/2023/provider-a/pool-1",
                      "/console/scorecards/2023/provider-b/pool-3"],
        "pools": [f"/console/pools?{m}&months=3"],
        "pipeline": ["/console/pipeline"],
    }  # fmt: skip
    return pages


def forget() -> None:
    """Drop every kept result and stamp (what a change of all the data does to them)."""
    from cloudtally.queries import memo

    memo.QUERIES.clear()
    memo.ANSWERS.clear()
    with memo._stamp_lock:
        memo._stamps.clear()


def _figures(ms: list[float]) -> dict[str, Any]:
    ms = sorted(ms)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    return {"n": len(ms), "p50_ms": round(statistics.median(ms), 1), "p95_ms": round(p95, 1),
            "max_ms": round(ms[-1], 1), "met": p95 <= GOAL_MS}  # fmt: skip


def measure(
    clients: dict[str, TestClient],
    furnished: dict[str, Any],
    rounds: int,
    *,
    only: set[str] | None = None,
    warmed: Callable[[], None] | None = None,
) -> dict[str, dict[str, Any]]:
    """{"<role> <page>": {"cold": figures, "warm": figures}} over every user's URLs."""
    asks: list[tuple[str, str, str]] = []  # (label, user, url)
    for user, client in clients.items():
        role = "bureau" if user.startswith("bureau-") else "buyer"
        for page, urls in user_pages(user, furnished).items():
            if only and page not in only:
                continue
            first = client.get(urls[0])
            if first.status_code == 403:  # not this role's page
                continue
            if first.status_code == 404 and role == "bureau" and page == "invoice":
                continue  # this bureau has no lines in the invoice: its page is a 404
            assert first.status_code == 200, (user, page, first.status_code, first.text[:300])
            asks += [(f"{role} {page}", user, url) for url in urls]
    times: dict[str, dict[str, list[float]]] = {}

    def ask(label: str, user: str, url: str, kind: str) -> None:
        c = time.perf_counter()
        r = clients[user].get(url)
        ms = (time.perf_counter() - c) * 1000
        assert r.status_code == 200, (url, r.status_code)
        times.setdefault(label, {"cold": [], "warm": []})[kind].append(ms)

    if warmed:  # one change of all the data, one warm run, then every page's first request
        forget()
        c = time.perf_counter()
        warmed()
        print(f"  warm run {time.perf_counter() - c:.1f} s", flush=True)
    for label, user, url in asks:  # cold: each right after every kept result is dropped
        if not warmed:
            forget()
        ask(label, user, url, "cold")
    shuffle = random.Random(13)
    for r in range(rounds + 1):  # warm: the first pass unmeasured, then shuffled passes
        order = list(asks)
        shuffle.shuffle(order)
        for label, user, url in order:
            if r == 0:
                clients[user].get(url)
            else:
                ask(label, user, url, "warm")
    out = {}
    for label in sorted(times):
        out[label] = {k: _figures(v) for k, v in times[label].items() if v}
        cold, warm = out[label]["cold"], out[label].get("warm")
        print(f"  {label:<26} cold p50 {cold['p50_ms']:>7.0f} p95 {cold['p95_ms']:>7.0f} "
              f"max {cold['max_ms']:>7.0f}   warm "
              + (f"p50 {warm['p50_ms']:>6.0f} p95 {warm['p95_ms']:>6.0f} "
                 f"max {warm['max_ms']:>6.0f}  n {warm['n']:>3}" if warm else "-")
              + ("" if cold["met"] and (warm is None or warm["met"]) else "   OVER"),
              flush=True)  # fmt: skip
    return out


def sign_in(app: Any, tokens: dict[str, str]) -> dict[str, TestClient]:
    clients = {}
    for user in ["admin", "auditor", *BUREAUS]:
        client = TestClient(app)
        name = user if user in ("admin", "auditor") else f"bureau:{user}"
        r = client.post("/console/login", data={"token": tokens[name]}, follow_redirects=False)
        assert r.status_code == 303, r.text
        clients[user] = client
    return clients


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--vms", type=int, default=15000)
    ap.add_argument("--rounds", type=int, default=5, help="measured warm passes")
    ap.add_argument("--out", default="console-latest.json", help="file in loadtest/results/")
    ap.add_argument("--only", default="", help="comma-separated pages (default: all)")
    ap.add_argument("--warmed", action="store_true",
                    help="cold requests after the background warm job ran")  # fmt: skip
    ap.add_argument("--fixture", type=Path, default=None,
                    help="keep the seeded store in this folder and reuse it next time")  # fmt: skip
    args = ap.parse_args()
    folder = args.fixture or Path(tempfile.mkdtemp(prefix="bench-console-"))
    reuse = args.fixture is not None and (folder / "chdb").exists()
    try:
        store = open_store(f"chdb://{folder}/chdb", "bench_console")
        c = time.perf_counter()
        migrate(store)
        times: dict[str, Any] = {"migrate_s": round(time.perf_counter() - c, 1)}
        if reuse and (folder / "seeded").exists():
            print(f"reusing the store in {folder}", flush=True)
            times["bill_lines"] = int(store.scalar("SELECT count() FROM bill_lines"))
        else:
            print(f"seeding {args.vms} VMs and a month of bill lines ...", flush=True)
            times.update(seed(store, args.vms))
            (folder / "seeded").write_text(json.dumps(times))
        furnished = furnish(store, folder)
        times["vms"] = int(store.scalar("SELECT uniqExact(vm_id) FROM vm_inventory"))
        print(f"  {times} {furnished}", flush=True)
        tokens_file = folder / f"tokens-{os.getpid()}.yaml"  # a reader's own (shared fixture)
        tokens = write_demo_tokens(tokens_file, BUREAUS)
        settings = Settings(_env_file=None, api_tokens_file=tokens_file,  # type: ignore[call-arg]
                            data_dir=folder)  # fmt: skip
        result: dict[str, Any] = {
            "when": dt.datetime.now(dt.UTC).isoformat(), "engine": store.engine,
            "rounds": args.rounds, "goal_p95_ms": GOAL_MS, **times, "furnished": furnished,
            "users": ["admin", "auditor", *BUREAUS], "warmed": args.warmed,
            "cpus": os.cpu_count(), "load_average_before": os.getloadavg(),
        }  # fmt: skip
        out = ROOT / "loadtest/results" / args.out
        if args.rounds > 0:
            app = create_api(settings, lambda: store)
            warm = None
            if args.warmed:
                from cloudtally.console.warming import warm_now

                def warm() -> None:
                    warm_now(app)

            with TestClient(app):
                clients = sign_in(app, tokens)
                only = {p for p in args.only.split(",") if p} or None
                result["pages"] = measure(clients, furnished, args.rounds, only=only,
                                          warmed=warm)  # fmt: skip
            from cloudtally.queries import memo

            kept = memo.QUERIES
            result["kept_results"] = {
                "bytes": kept.bytes, "entries": len(kept._kept), "hits": kept.hits,
                "misses": kept.misses, "evictions": kept.evictions, "max_bytes": kept.max_bytes,
            }  # fmt: skip
            result["load_average_after"] = os.getloadavg()
            out.write_text(json.dumps(result, indent=2))
            print(f"load average {os.getloadavg()}; wrote {out}")
        tokens_file.unlink(missing_ok=True)
        store.close()
    finally:
        if args.fixture is None:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
