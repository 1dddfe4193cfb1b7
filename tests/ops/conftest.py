"""A simulated fleet ingested once per engine, for the dashboard queries.

The fleet goes through the real path where it exists: the fleet model
(collectors.fleet) -> the real codec -> the worker's IngestSink -> samples,
inventory, dead letters and ingest_log; then the real rollups
(analytics.rollups) -> usage_hourly/daily and disk_usage_daily. Bill lines,
statement lines, rating runs, invoices and verification results are written
directly from the rollups (a simple fixed price), because the dashboards only
need rows shaped like the real ones; their correctness is tested by their
owners.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import numpy as np
import pytest

from cloudtally.store import Store, open_store
from cloudtally.store.migrate import migrate

SHANGHAI = dt.timezone(dt.timedelta(hours=8))
# Monday 2024-03-04 00:00 Asia/Shanghai, three working days.
FLEET_START = int(dt.datetime(2024, 3, 4, tzinfo=SHANGHAI).timestamp())
FLEET_END = FLEET_START + 3 * 86_400
# The dashboards' time range in the test: reaches back to the invoices' billing
# period (from 1 March local) and ends with the fleet.
RANGE_FROM = int(dt.datetime(2024, 2, 15, tzinfo=dt.UTC).timestamp())
RANGE_TO = FLEET_END
CENT = Decimal("0.01")


@dataclass
class FilledStore:
    store: Store
    engine: str
    wall_from: int  # wall-clock window of ingest_log / dead_letters rows
    wall_to: int


@pytest.fixture(scope="module", params=["chdb", pytest.param("server", marks=pytest.mark.server)])
def fleet_store(request: pytest.FixtureRequest) -> Iterator[FilledStore]:
    if request.param == "chdb":
        url = request.getfixturevalue("chdb_url")
    else:
        server = request.getfixturevalue("clickhouse_server")
        url = server.url
    database = f"ops_{uuid.uuid4().hex[:10]}"
    store = open_store(url if request.param == "chdb" else f"{url}/{database}", database)
    try:
        migrate(store)
        wall_from = int(time.time()) - 60
        fill(store)
        yield FilledStore(store, request.param, wall_from, int(time.time()) + 60)
    finally:
        try:
            store.execute(f"DROP DATABASE IF EXISTS {database}")
        finally:
            store.close()


def fill(store: Store) -> None:
    from cloudtally.analytics.rollups import recompute_days, recompute_hours
    from cloudtally.collectors.badinput import bad_message
    from cloudtally.collectors.fleet import Fleet
    from cloudtally.core.samples import encode_batch
    from cloudtally.worker.sink import IngestSink, RawMessage

    fleet = Fleet.build(
        seed=11, vms=36, pools=2, bureaus=6, providers=2, start=FLEET_START, end=FLEET_END
    )
    sink = IngestSink(store, consumer="ops-test")
    inv = [
        RawMessage("inventory", 0, i, ev.to_json()) for i, ev in enumerate(fleet.inventory_events())
    ]
    sink.write_inventory(inv)

    offset = 0
    for chunk in fleet.samples(FLEET_START, FLEET_END, 300, disk_interval=3600):
        s, d = chunk.samples, chunk.disks
        for part, rows in enumerate(np.array_split(np.arange(len(s)), 2)):
            drows = np.array_split(np.arange(len(d)), 2)[part]
            raw = encode_batch(
                "simulate",
                list(s.vm_id[rows]),
                s.ts[rows],
                s.cpu_pct[rows],
                s.mem_pct[rows],
                disks={
                    "vm_id": list(d.vm_id[drows]),
                    "disk_id": list(d.disk_id[drows]),
                    "ts": d.ts[drows],
                    "used_gb": d.used_gb[drows],
                },
            )
            sink.write_samples([RawMessage("samples", part, offset, raw)])
        offset += 1
    sink.write_samples(
        [
            RawMessage("samples", 0, offset, bad_message("wrong_schema")),
            RawMessage("samples", 1, offset, bad_message("length_mismatch")),
        ]
    )

    recompute_hours(store, None, FLEET_START, FLEET_END)
    recompute_days(store, None, dt.date(2024, 3, 4), dt.date(2024, 3, 7))
    rate_and_verify(store)


def _money(x: float) -> Decimal:
    return Decimal(repr(x)).quantize(CENT, ROUND_HALF_UP)


def rate_and_verify(store: Store) -> None:
    """Bill lines (vCPU and memory at a fixed price, a 55 % discount, a cut on the least
    used VMs), a statement line, a rating run, and per provider an invoice that
    over-bills the first VM, with its verification run, totals and finding."""
    days = store.dicts(
        "SELECT vm_id, day, bureau, system, pool, provider, vcpu_hours, mem_gb_hours, "
        "cpu_day, hours FROM usage_daily FINAL ORDER BY vm_id, day"
    )
    assert days, "rollups produced no usage_daily rows"
    now = int(time.time())
    run_id, version = "run-ops-1", time.time_ns()
    lines: dict[str, list[Any]] = {
        k: []
        for k in (
            "vm_id",
            "day",
            "month",
            "fiscal_year",
            "bureau",
            "system",
            "pool",
            "provider",
            "resource",
            "tariff_version",
            "quantity",
            "unit",
            "unit_price",
            "price_divisor",
            "list_amount",
            "after_discount",
            "after_cut",
            "adjustments",
            "utilization_basis",
            "hours",
            "unmetered_hours",
            "run_id",
            "version",
        )
    }
    for r in days:
        for resource, qty, price in (
            ("vcpu", r["vcpu_hours"], 0.05),
            ("memory", r["mem_gb_hours"], 0.01),
        ):
            listed = _money(qty * price)
            disc = (listed * Decimal("0.55")).quantize(CENT, ROUND_HALF_UP)
            low = r["cpu_day"] is not None and r["cpu_day"] < 5
            cut = (disc * Decimal("0.7")).quantize(CENT, ROUND_HALF_UP) if low else disc
            day: dt.date = r["day"]
            for k, v in (
                ("vm_id", r["vm_id"]),
                ("day", day),
                ("month", day.replace(day=1)),
                ("fiscal_year", day.year + (day.month >= 10)),
                ("bureau", r["bureau"]),
                ("system", r["system"]),
                ("pool", r["pool"]),
                ("provider", r["provider"]),
                ("resource", resource),
                ("tariff_version", "2023.1"),
                ("quantity", Decimal(repr(qty))),
                ("unit", "hour"),
                ("unit_price", Decimal(repr(price))),
                ("price_divisor", 1),
                ("list_amount", listed),
                ("after_discount", disc),
                ("after_cut", cut),
                ("adjustments", "[]"),
                ("utilization_basis", r["cpu_day"]),
                ("hours", Decimal(r["hours"])),
                ("unmetered_hours", 0),
                ("run_id", run_id),
                ("version", version),
            ):
                lines[k].append(v)
    store.insert("bill_lines", lines)
    pairs = sorted({(v, d) for v, d in zip(lines["vm_id"], lines["day"], strict=True)})
    store.insert(
        "bill_current",
        {
            "vm_id": [p[0] for p in pairs],
            "day": [p[1] for p in pairs],
            "run_id": [run_id] * len(pairs),
            "version": [version] * len(pairs),
        },
    )
    providers = sorted(set(lines["provider"]))
    total = sum(lines["after_cut"], Decimal(0))
    store.insert(
        "statement_lines",
        {
            "month": [dt.date(2024, 3, 1)] * len(providers),
            "fiscal_year": [2024] * len(providers),
            "provider": providers,
            "kind": ["volume_tier"] * len(providers),
            "status": ["provisional"] * len(providers),
            "tariff_version": ["2023.1"] * len(providers),
            "basis": ["total"] * len(providers),
            "mode": ["whole_fee"] * len(providers),
            "basis_value": [total] * len(providers),
            "fee": [total] * len(providers),
            "amount": [Decimal("-100.00")] * len(providers),
            "details": ["{}"] * len(providers),
            "run_id": [run_id] * len(providers),
            "computed_at": [now] * len(providers),
            "version": [version] * len(providers),
        },
    )
    store.insert(
        "rating_runs",
        {
            "run_id": [run_id],
            "kind": ["stream"],
            "period_from": [FLEET_START],
            "period_to": [FLEET_END],
            "tariff_versions": [["2023.1"]],
            "vm_scope": [0],
            "reason": ["ops test"],
            "actor": ["pytest"],
            "policy_name": ["hainan-example"],
            "started_at": [FLEET_END - 600],
            "finished_at": [FLEET_END - 590],
            "line_count": [len(lines["vm_id"])],
            "vm_days": [len(pairs)],
            "unpriced": [0],
            "total": [total],
            "previous_total": [Decimal(0)],
            "version": [version],
        },
    )
    _invoices(store, lines, providers, version)


def _invoices(
    store: Store, lines: dict[str, list[Any]], providers: list[str], version: int
) -> None:
    period_start = int(dt.datetime(2024, 3, 1, tzinfo=SHANGHAI).timestamp())
    period_end = int(dt.datetime(2024, 4, 1, tzinfo=SHANGHAI).timestamp())
    for n, provider in enumerate(providers):
        inv_id, run = f"inv-{provider}", f"ver-{provider}"
        idx = [i for i, p in enumerate(lines["provider"]) if p == provider]
        billed = sum((lines["after_cut"][i] for i in idx), Decimal(0))
        # the first provider over-bills, the second under-bills
        over = Decimal("123.45") if n == 0 else Decimal(0)
        under = Decimal(0) if n == 0 else Decimal("67.80")
        first = idx[0]
        store.insert(
            "invoices",
            {
                "invoice_id": [inv_id],
                "import_id": ["imp-1"],
                "provider": [provider],
                "provider_invoice_no": [f"NO-{n + 1}"],
                "source_format": ["csv"],
                "file_name": ["march.csv"],
                "file_hash": [f"h{n}"],
                "file_bytes": [1000],
                "billing_period_start": [period_start],
                "billing_period_end": [period_end],
                "currency": ["CNY"],
                "imported_at": [FLEET_END],
                "imported_by": ["pytest"],
                "row_count": [len(idx)],
                "billed_total": [billed + over],
                "status": ["verified"],
                "version": [version],
            },
        )
        store.insert(
            "invoice_lines",
            {
                "invoice_id": [inv_id],
                "import_id": ["imp-1"],
                "line_no": [1],
                "resource_id": [lines["vm_id"][first]],
                "resource_key": [lines["vm_id"][first]],
                "resource_name": ["vm"],
                "resource_type_raw": ["云主机"],
                "resource_type": ["vcpu"],
                "charge_category": ["usage"],
                "charge_class": ["compute"],
                "period_start": [period_start],
                "period_end": [period_end],
                "quantity": [Decimal(1)],
                "unit": ["month"],
                "unit_price": [None],
                "list_amount": [None],
                "discount_rate": [None],
                "contracted_unit_price": [None],
                "contracted_amount": [None],
                "amount": [billed + over],
                "currency": ["CNY"],
                "pool": [lines["pool"][first]],
                "region": [""],
                "sku": [""],
                "description": [""],
            },
        )
        store.insert(
            "verification_runs",
            {
                "run_id": [run],
                "invoice_id": [inv_id],
                "provider": [provider],
                "started_at": [FLEET_END],
                "finished_at": [FLEET_END + 5],
                "status": ["done"],
                "settings": ["{}"],
                "tariff_versions": [["2023.1"]],
                "lines": [1],
                "matched_lines": [1],
                "expected_charges": [len(idx)],
                "findings": [1],
                "billed_total": [billed + over - under],
                "verified_total": [billed],
                "over_total": [over],
                "under_total": [under],
                "message": [""],
                "version": [version],
            },
        )
        store.insert(
            "verification_totals",
            {
                "run_id": [run],
                "invoice_id": [inv_id],
                "provider": [provider],
                "pool": [lines["pool"][first]],
                "bureau": [lines["bureau"][first]],
                "lines": [1],
                "findings": [1],
                "billed": [billed + over - under],
                "expected": [billed],
                "over": [over],
                "under": [under],
            },
        )
        store.insert(
            "verification_findings",
            {
                "run_id": [run],
                "invoice_id": [inv_id],
                "seq": [1],
                "kind": ["overbilled" if over else "underbilled"],
                "rule_id": ["amount_mismatch"],
                "severity": ["error"],
                "amount_at_stake": [over or under],
                "line_numbers": [[1]],
                "resource_id": [lines["vm_id"][first]],
                "resource_type": ["vcpu"],
                "period_start": [period_start],
                "period_end": [period_end],
                "bureau": [lines["bureau"][first]],
                "pool": [lines["pool"][first]],
                "provider": [provider],
                "evidence": ["{}"],
                "message": ["billed more than metered usage re-rated"],
            },
        )
