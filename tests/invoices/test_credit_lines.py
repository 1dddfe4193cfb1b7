"""The generator's credit lines read as a provider's: with an SLA credit and a volume-tier
credit both due, an invoice carrying both gives no S1 or R3 finding, and one that leaves
either out gives exactly that rule's finding (rule S1 tells the kinds apart by the SLA
wording a real provider puts on the line). Through the CSV, the importer and the store."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from cloudtally.invoices import store as inv_store
from cloudtally.invoices.generator import (
    generate_invoice,
    render_provider_csv,
    seed_metering,
    simulate_fleet,
)
from cloudtally.invoices.importer import import_invoice
from cloudtally.invoices.service import verify_invoice
from cloudtally.invoices.store import load_credits
from cloudtally.store import Store

PROVIDER = "provider-a"
SH = dt.timezone(dt.timedelta(hours=8))
DUE = {"volume_tier": Decimal("-100.00"), "sla_credit": Decimal("-47.07")}


def _plant_credits(store: Store, month: dt.date) -> None:
    """The month's final statement lines, as closing it writes them."""
    n = len(DUE)
    store.insert(
        "statement_lines",
        {"month": [month] * n, "fiscal_year": [2024] * n, "provider": [PROVIDER] * n,
         "kind": list(DUE), "status": ["final"] * n, "tariff_version": ["sim-1"] * n,
         "basis": [""] * n, "mode": [""] * n, "basis_value": [Decimal(0)] * n,
         "fee": [Decimal(0)] * n, "amount": list(DUE.values()),
         "details": ["tier 2", "pool-1 99.85% < 99.9%"], "run_id": ["close"] * n,
         "computed_at": [dt.datetime(2024, 2, 1, tzinfo=dt.UTC)] * n, "version": [1] * n},
    )  # fmt: skip


@pytest.mark.parametrize("left_out", [(), ("S1",), ("R3",)], ids=["both", "no-sla", "no-tier"])
def test_sla_and_tier_credit_lines_are_told_apart(store: Store, left_out: tuple[str, ...]):
    exp, vms = simulate_fleet(seed=9, vms=10)
    seed_metering(store, exp, vms)
    period = (exp[0].period_start, exp[0].period_end)
    _plant_credits(store, period[0].astimezone(SH).date())
    credits = load_credits(store, PROVIDER, period, tz="Asia/Shanghai")
    assert sorted(c.kind for c in credits) == sorted(DUE)
    lines, planted = generate_invoice(exp, vms, errors=left_out, credits=credits)
    assert [p.rule_id for p in planted] == list(left_out)
    res = import_invoice(store, render_provider_csv(lines, encoding="gb18030"),
                         provider=PROVIDER, file_name="credits.csv")  # fmt: skip
    verify_invoice(store, res.invoice_id)
    got = [(f["rule_id"], f["amount_at_stake"]) for f in inv_store.findings(store, res.invoice_id)]
    want = [(p.rule_id, p.amount_at_stake) for p in planted]
    assert got == want
