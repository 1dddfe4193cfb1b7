"""SLA credits: the planted fleet's pool availability and pool fees give the planted
credits, written as statement lines; an invoice that omits one is an S1 finding with its
amount (and a volume-tier line beside it is still R3's)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

from cloudtally.core.invoice import InvoiceLine
from cloudtally.core.policy import load_policy
from cloudtally.core.verification import ExpectedCredit, verify
from cloudtally.evaluation.credits import accrue_credits, month_credits
from cloudtally.invoices.store import load_credits
from cloudtally.policy import example_policy_text
from cloudtally.store import Store
from tests.evaluation.fleet import plant

POLICY = load_policy(example_policy_text())
MARCH = dt.date(2023, 3, 1)
SH = dt.timezone(dt.timedelta(hours=8))
PERIOD = (dt.datetime(2023, 3, 1, tzinfo=SH), dt.datetime(2023, 4, 1, tzinfo=SH))
FEES = {"pool-1": D("10000.00"), "pool-2": D("3333.33")}


def plant_fees(store: Store) -> None:
    """One current bill line per pool carrying the pool's March fee."""
    n = len(FEES)
    store.insert(
        "bill_lines",
        {
            "vm_id": [f"fee-{p}" for p in FEES], "day": [dt.date(2023, 3, 30)] * n,
            "month": [MARCH] * n, "fiscal_year": [2023] * n, "bureau": ["edu"] * n,
            "system": ["s"] * n, "pool": list(FEES), "provider": ["provider-a"] * n,
            "resource": ["vcpu"] * n, "tariff_version": ["2023.1"] * n,
            "quantity": [D(1)] * n, "unit": ["vCPU-hour"] * n, "unit_price": [D(1)] * n,
            "price_divisor": [720] * n, "list_amount": list(FEES.values()),
            "after_discount": list(FEES.values()), "after_cut": list(FEES.values()),
            "adjustments": ["[]"] * n, "utilization_basis": [None] * n, "hours": [D(24)] * n,
            "unmetered_hours": [0] * n, "run_id": ["r1"] * n, "version": [1] * n,
        },
    )  # fmt: skip
    store.insert(
        "bill_current",
        {"vm_id": [f"fee-{p}" for p in FEES], "day": [dt.date(2023, 3, 30)] * n,
         "run_id": ["r1"] * n, "version": [1] * n},
    )  # fmt: skip
    # as the rating step does after writing lines: the per-VM month totals fees are read from
    from cloudtally.billing import totals

    totals.refresh(store, MARCH, dt.date(2023, 4, 1))


def credit_line(no: int, amount: str, label: str) -> InvoiceLine:
    return InvoiceLine(
        line_no=no, resource_id="", resource_key="", resource_type_raw=label,
        resource_type="", period_start=PERIOD[0], period_end=PERIOD[1], quantity=D(0),
        amount=D(amount), charge_category="credit",
    )  # fmt: skip


def test_planted_availability_gives_the_planted_credit_and_s1_finds_it_missing(
    store: Store,
) -> None:
    plant(store)
    plant_fees(store)
    [row] = [r.as_row() for r in month_credits(store, POLICY, MARCH)]
    pools = {p["pool"]: p for p in row["pools"]}
    # pool-1 in March (the fleet is metered from 29 March 23:00): two VMs × 169,200 s,
    # 1,800 s down → 99.46808… %, shown truncated, < 99.5 % → step 3, 20 % of the fee.
    assert pools["pool-1"]["availability_pct"] == D("99.4680")
    assert (pools["pool-1"]["step"], pools["pool-1"]["amount"]) == (3, D("-2000.00"))
    assert pools["pool-2"]["step"] == 3 and pools["pool-2"]["amount"] == D("-666.67")
    assert row["amount"] == D("-2666.67")
    assert "vm-a" in pools["pool-1"]["derivation"] and "step 3" in pools["pool-1"]["derivation"]
    assert {i["vm_id"] for i in pools["pool-2"]["incidents"]} == {"vm-c", "vm-d"}

    accrue_credits(store, POLICY, MARCH)
    credits = load_credits(store, "provider-a", PERIOD, tz="Asia/Shanghai")
    assert [(c.kind, c.amount) for c in credits] == [("sla_credit", D("-2666.67"))]

    missing = verify([], [], PERIOD, provider="provider-a", credits=credits)
    assert [(f.rule_id, f.amount_at_stake) for f in missing.findings] == [("S1", D("2666.67"))]
    short = verify([credit_line(1, "-2000.00", "SLA 可用性扣减")], [], PERIOD, credits=credits)
    assert [(f.rule_id, f.amount_at_stake) for f in short.findings] == [("S1", D("666.67"))]
    paid = verify([credit_line(1, "-2666.67", "SLA credit")], [], PERIOD, credits=credits)
    assert paid.findings == []


def test_sla_and_volume_tier_credits_are_checked_apart() -> None:
    tier = ExpectedCredit("volume_tier", D("-100.00"), *PERIOD, "provider-a", "2023.1")
    sla = ExpectedCredit("sla_credit", D("-50.00"), *PERIOD, "provider-a", "sla-2023.1")
    lines = [credit_line(1, "-100.00", "规模阶梯优惠")]  # the tier is there, the SLA credit is not
    res = verify(lines, [], PERIOD, provider="provider-a", credits=[tier, sla])
    assert [(f.rule_id, f.amount_at_stake) for f in res.findings] == [("S1", D("50.00"))]
    both = [*lines, credit_line(2, "-50.00", "服务水平违约赔付")]
    assert verify(both, [], PERIOD, provider="provider-a", credits=[tier, sla]).findings == []


def test_closing_the_month_writes_the_final_credit_line(store: Store) -> None:
    from cloudtally.billing.rate import close_month

    plant(store)
    plant_fees(store)
    rows = close_month(store, POLICY, MARCH, actor="test")
    sla = [r for r in rows if r.get("kind") == "sla_credit"]
    assert [(r["provider"], r["amount"]) for r in sla] == [("provider-a", D("-2666.67"))]
    stored = store.rows(
        "SELECT status, toString(amount) FROM statement_lines FINAL "
        "WHERE month = %(m)s AND kind = 'sla_credit'",
        {"m": MARCH},
    )
    assert stored == [("final", "-2666.67")]
