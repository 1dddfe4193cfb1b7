"""Verification with the store settling the matching lines (cloudtally.invoices.verify_sql)
gives what the Python rules alone give, on both stores: the same findings (rule, lines,
amount, evidence, message), the same totals per (provider, pool, bureau) and the same run
figures. On the planted-error generator, on invoices nudged around every tolerance, on
the second provider's hand-written settlement sheet (hourly quantities against a monthly
catalog, a bureau column, an upper-case id) and on FOCUS rows with contracted figures.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from decimal import Decimal as D
from typing import Any
from zoneinfo import ZoneInfo

from tests.invoices import test_edges as edges

from cloudtally.core.verification import VerificationPolicy
from cloudtally.invoices import generator as gen
from cloudtally.invoices import store as inv_store
from cloudtally.invoices import verify_sql
from cloudtally.invoices.importer import import_invoice
from cloudtally.invoices.service import verify_invoice

PROVIDER = "provider-a"
SH = ZoneInfo("Asia/Shanghai")
_RUN_ONLY = ("run_id", "ledger_head", "lines_settled_in_store")


def _run(store: Any, invoice_id: str, in_store: bool, **kw: Any) -> tuple[Any, ...]:
    run = verify_invoice(store, invoice_id, in_store=in_store, **kw)
    findings = [
        {k: v for k, v in f.items() if k not in ("run_id", "seq")}
        for f in inv_store.findings(store, invoice_id, run_id=run["run_id"])
    ]
    totals = store.rows(
        "SELECT provider, pool, bureau, lines, findings, toString(billed), toString(expected), "
        "toString(over), toString(under), toString(unverified) FROM verification_totals "
        "WHERE run_id = %(r)s ORDER BY provider, pool, bureau",
        {"r": run["run_id"]},
    )
    figures = {k: v for k, v in run.items() if k not in _RUN_ONLY}
    return figures, findings, totals, run["lines_settled_in_store"]


def same_both_ways(store: Any, invoice_id: str, **kw: Any) -> tuple[int, int]:
    """Asserts the two paths agree; returns (lines, lines the store settled)."""
    py = _run(store, invoice_id, False, **kw)
    sql = _run(store, invoice_id, True, **kw)
    assert py[3] == 0
    assert sql[0] == py[0]
    assert sql[1] == py[1]
    assert sql[2] == py[2]
    return py[0]["lines"], sql[3]


def _nudged(lines: list[Any], seed: int) -> list[Any]:
    """Lines a provider's rounding could print: amounts, quantities and prices moved by
    exactly a tolerance, just past it, or by half a fen."""
    rnd = random.Random(seed)
    moves = [
        ("amount", D("0.01")),
        ("amount", D("-0.01")),
        ("amount", D("0.02")),
        ("amount", D("0.005")),
        ("quantity", D("0.001")),
        ("quantity", D("-0.0011")),
        ("unit_price", D("0.000001")),
        ("unit_price", D("0.0000011")),
        ("list_amount", D("0.01")),
        ("list_amount", D("0.02")),
        ("discount_rate", D("0.000001")),
    ]
    out = []
    for ln in lines:
        if ln.charge_category == "usage" and rnd.random() < 0.5:
            name, by = rnd.choice(moves)
            value = getattr(ln, name)
            if value is not None:
                ln = dataclasses.replace(ln, **{name: value + by})
        out.append(ln)
    return out


def test_planted_errors_same_findings_and_totals(store, monkeypatch) -> None:
    monkeypatch.setattr(verify_sql, "PASS_LINES", 37)  # the store joins key range by range
    exp, vms = gen.simulate_fleet(seed=21, vms=60, gap_share=0.3, low_util_share=0.4, deleted=4)
    gen.seed_metering(store, exp, vms)
    lines, planted = gen.generate_invoice(exp, vms, errors=[e for e in gen.ALL_ERRORS if e != "R3"])
    assert len(planted) >= 10
    res = import_invoice(store, gen.render_provider_csv(lines), provider=PROVIDER)
    n, settled = same_both_ways(store, res.invoice_id)
    # The lines that agree are settled in the store (the point of it); planted ones are not.
    assert n - 40 <= settled < n
    # Without billing unmetered hours, gaps are G1 rather than G2 and quantities differ.
    same_both_ways(store, res.invoice_id, policy=VerificationPolicy(bill_unmetered_hours=False))


def test_lines_nudged_around_every_tolerance(store) -> None:
    exp, vms = gen.simulate_fleet(seed=22, vms=50, gap_share=0.0, low_util_share=0.3)
    gen.seed_metering(store, exp, vms)
    lines, _ = gen.generate_invoice(exp, vms)
    res = import_invoice(store, gen.render_provider_csv(_nudged(lines, 5)), provider=PROVIDER)
    n, settled = same_both_ways(store, res.invoice_id)
    assert 0 < settled < n
    # A clean invoice is settled whole.
    clean = import_invoice(store, gen.render_provider_csv(lines), provider=PROVIDER)
    assert same_both_ways(store, clean.invoice_id) == (len(lines), len(lines))


def test_focus_rows_with_contracted_figures(store) -> None:
    exp, vms = gen.simulate_fleet(seed=23, vms=30, gap_share=0.2)
    gen.seed_metering(store, exp, vms)
    lines, _ = gen.generate_invoice(exp, vms, errors=["A1", "Q1", "U1", "M1", "B1"], form="focus")
    period = (exp[0].period_start, exp[0].period_end)
    data = gen.render_focus_csv(lines, provider=PROVIDER, billing_period=period)
    res = import_invoice(store, data, provider=PROVIDER, fmt="focus", file_name="focus.csv")
    n, settled = same_both_ways(store, res.invoice_id)
    assert settled > n // 2


def test_second_provider_settlement_sheet(store, tmp_path) -> None:
    edges.seed(store)
    for body, name in ((edges.CLEAN, "a.csv"), (edges.PLANTED, "b.csv")):
        res = import_invoice(
            store, edges.sheet(body, tmp_path, name), provider=edges.PROVIDER, mapping=edges.MAPPING
        )
        same_both_ways(store, res.invoice_id)


def test_daily_invoice(store) -> None:
    """Lines of one local day each: the store matches them to the day's bill lines."""
    exp, vms = gen.simulate_fleet(seed=24, vms=30, gap_share=0.0)
    day = dt.datetime(2024, 1, 20, tzinfo=SH).astimezone(dt.UTC)
    # gen.seed_metering rates a charge on the UTC date of its period's start + 14 days: Jan 20.
    rated = day + dt.timedelta(hours=12) - dt.timedelta(days=14)
    seeded = [dataclasses.replace(e, period_start=rated) for e in exp]
    gen.seed_metering(store, seeded, vms)
    daily = [
        dataclasses.replace(e, period_start=day, period_end=day + dt.timedelta(days=1)) for e in exp
    ]
    lines, planted = gen.generate_invoice(daily, vms, errors=["Q1", "U1", "A1", "D1", "M1"])
    assert planted
    res = import_invoice(store, gen.render_provider_csv(lines), provider=PROVIDER)
    n, settled = same_both_ways(store, res.invoice_id)
    assert n - 20 <= settled < n  # a planted error sends its VM's 3 lines to the rules
