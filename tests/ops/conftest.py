"""A simulated fleet ingested and derived once per engine, for the dashboard queries.

Every row the dashboards read is written by the module that writes it in
production:

* the fleet model (collectors.fleet) -> the real codec -> the worker's
  IngestSink: samples, disk samples, inventory, dead letters, ingest_log and
  the rollup queue;
* the worker's derivation steps (worker.derive.Derivation): ``rollup``
  consumes the queue (usage_hourly/daily, disk_usage_daily, its watermark in
  worker_state), ``rate`` rates every closed local day with
  billing.rate.rate_period and accrues the months' volume tiers with
  accrue_month (bill_lines, bill_current, rating_runs, statement_lines);
* per provider an invoice generated from the rated lines
  (invoices.store.load_expected -> invoices.generator with planted errors),
  rendered as the provider's CSV, imported and verified by the invoices
  modules (invoices, invoice_lines, verification_*);
* analytics.alerts.evaluate_candidates with a list-appending send
  (alert_state, alert_events).

Fleet: 36 VMs, Q1 2024 (1 January - 1 April, Asia/Shanghai), so the planted
profiles become real candidates as of 1 April: idle over the 14 days before,
storage-idle in February and March, rightsizing over the quarter.

Policy: rating uses the packaged example tariff unchanged
(``configured_policy(None)``). The rollups and the candidate rules use the same
file with ``utilization.expected_sample_interval_s`` set to the simulated
collectors' interval (15 minutes instead of 1): a quarter of 1-minute samples
would make the fill take minutes; rating does not read that setting.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from cloudtally.core.policy import Policy, parse_yaml, policy_from_document
from cloudtally.policy import configured_policy, example_policy_text
from cloudtally.store import Store, open_store
from cloudtally.store.migrate import migrate

SHANGHAI = dt.timezone(dt.timedelta(hours=8))
# Q1 2024, local time: the rightsizing review quarter as of 1 April.
FLEET_START = int(dt.datetime(2024, 1, 1, tzinfo=SHANGHAI).timestamp())
FLEET_END = int(dt.datetime(2024, 4, 1, tzinfo=SHANGHAI).timestamp())
AS_OF = dt.date(2024, 4, 1)
SAMPLE_INTERVAL_S = 900
DISK_INTERVAL_S = 86_400
MARCH = (dt.datetime(2024, 3, 1, tzinfo=SHANGHAI), dt.datetime(2024, 4, 1, tzinfo=SHANGHAI))
# Errors planted in each provider's March invoice: over-billing (duplicate line,
# inflated quantity, low-utilization cut not applied), under-billing (a metered
# charge left off) and a charge cloudtally cannot verify (shown apart).
PLANTED_ERRORS = ("D1", "Q1", "R2", "M1", "V1")
# When the candidate evaluation ran (alert_events.at): just after the quarter.
ALERTS_AT = FLEET_END + 600
# The dashboards' time range in the test: the quarter, with a margin either side.
RANGE_FROM = int(dt.datetime(2023, 12, 15, tzinfo=dt.UTC).timestamp())
RANGE_TO = FLEET_END + 86_400


@dataclass
class FilledStore:
    store: Store
    engine: str
    wall_from: int  # wall-clock window of ingest_log / dead_letters / worker_state rows
    wall_to: int
    timings: dict[str, float] = field(default_factory=dict)


def utilization_policy() -> Policy:
    """The packaged example with the simulated collectors' sample interval."""
    doc = parse_yaml(example_policy_text())
    for version in doc["versions"]:
        version["utilization"] = {"expected_sample_interval_s": SAMPLE_INTERVAL_S}
    return policy_from_document(doc)


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
        timings = fill(store)
        yield FilledStore(store, request.param, wall_from, int(time.time()) + 60, timings)
    finally:
        try:
            store.execute(f"DROP DATABASE IF EXISTS {database}")
        finally:
            store.close()


def fill(store: Store) -> dict[str, float]:
    """Ingest, derive, invoice, verify and evaluate candidates; seconds per stage."""
    timings: dict[str, float] = {}
    t = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal t
        now = time.perf_counter()
        timings[stage] = round(now - t, 2)
        t = now

    ingest(store)
    lap("ingest")
    derive(store)
    lap("derive")
    for n, provider in enumerate(store_providers(store)):
        invoice_and_verify(store, provider, seed=n + 1)
    lap("invoices")
    sent = candidates(store)
    lap("alerts")
    assert sent, "the planted fleet produced no candidate events"
    return timings


def ingest(store: Store) -> None:
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
    chunks = fleet.samples(FLEET_START, FLEET_END, SAMPLE_INTERVAL_S, disk_interval=DISK_INTERVAL_S)
    for chunk in chunks:
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


def derive(store: Store) -> None:
    """The leader worker's two steps, as its timers run them once the quarter is over."""
    from cloudtally.worker.derive import Derivation

    rolled = Derivation(store, utilization_policy()).rollup()
    assert rolled.hours and rolled.days[0] == dt.date(2024, 1, 1), rolled
    # Noon on 1 April: every day of the quarter has closed and is rated once.
    rated = Derivation(store, configured_policy(None)).rate(now=FLEET_END + 12 * 3600)
    assert rated.rows and rated.days[-1] == dt.date(2024, 3, 31), rated
    unpriced = store.scalar("SELECT sum(unpriced) FROM rating_runs")
    assert unpriced == 0, f"{unpriced} usage rows had no price in the example tariff"


def store_providers(store: Store) -> list[str]:
    return [r[0] for r in store.rows("SELECT DISTINCT provider FROM bill_lines ORDER BY provider")]


def invoice_and_verify(store: Store, provider: str, seed: int) -> dict[str, Any]:
    """The provider's March invoice as it would bill the rated lines, with planted errors."""
    from cloudtally.core.verification import VerificationPolicy
    from cloudtally.invoices.generator import generate_invoice, render_provider_csv
    from cloudtally.invoices.importer import import_invoice
    from cloudtally.invoices.service import verify_invoice
    from cloudtally.invoices.store import load_expected

    expected, vms, credits = load_expected(store, provider, MARCH, granularity="month")
    assert expected, f"no rated March lines for {provider}"
    lines, planted = generate_invoice(
        expected, vms, errors=PLANTED_ERRORS, credits=credits, seed=seed
    )
    assert {p.rule_id for p in planted} == set(PLANTED_ERRORS), planted
    result = import_invoice(
        store,
        render_provider_csv(lines, encoding="gb18030"),
        provider=provider,
        file_name=f"{provider}-2024-03.csv",
        imported_by="ops-test",
    )
    run = verify_invoice(store, result.invoice_id, policy=VerificationPolicy())
    assert run["findings"] >= len(planted) and run["over_total"] and run["under_total"], run
    return run


def candidates(store: Store) -> list[tuple[bytes, bytes]]:
    from cloudtally.analytics.alerts import evaluate_candidates

    sent: list[tuple[bytes, bytes]] = []
    summary = evaluate_candidates(
        store,
        utilization_policy(),
        AS_OF,
        lambda key, value: sent.append((key, value)),
        now=ALERTS_AT,
    )
    kinds = {e["kind"] for e in summary.new}
    assert kinds == {"idle", "storage_idle", "rightsizing"}, kinds
    return sent
