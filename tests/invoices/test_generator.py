"""Generated invoices: clean → no findings; planted errors → exactly those findings."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest

from cloudtally.core.invoice import default_provider_mapping, focus_mapping, parse_rows
from cloudtally.core.verification import ExpectedCredit, VerificationPolicy, verify
from cloudtally.invoices.generator import (
    ALL_ERRORS,
    generate_invoice,
    render_focus_csv,
    render_provider_csv,
    simulate_fleet,
)


def _period(expected):
    return expected[0].period_start, expected[0].period_end


def _reparse(lines, form, period):
    if form == "focus":
        data = render_focus_csv(lines, provider="provider-a", billing_period=period)
        rows = list(csv.reader(io.StringIO(data.decode("utf-8"))))
        return parse_rows(rows, focus_mapping("provider-a"))
    data = render_provider_csv(lines, encoding="gb18030")
    rows = list(csv.reader(io.StringIO(data.decode("gb18030"))))
    return parse_rows(rows, default_provider_mapping("provider-a"))


@pytest.mark.parametrize("form", ["provider", "focus"])
def test_clean_generated_invoice_round_trips_with_no_findings(form):
    exp, vms = simulate_fleet(seed=3, vms=40)
    period = _period(exp)
    lines, planted = generate_invoice(exp, vms, form=form)
    assert planted == []
    parsed = _reparse(lines, form, period)
    assert parsed.ok, parsed.errors[:3]
    res = verify(parsed.lines, exp, period, vms=vms, provider="provider-a")
    assert res.findings == []
    assert res.billed_total == sum(e.expected_amount for e in exp)


@pytest.mark.parametrize("form", ["provider", "focus"])
def test_every_planted_kind_is_found_with_its_exact_amount(form):
    exp, vms = simulate_fleet(seed=5, vms=60, gap_share=0.3, low_util_share=0.4)
    period = _period(exp)
    credits = [
        ExpectedCredit("volume_tier", Decimal("-12.34"), *period, "provider-a", "sim-1"),
        ExpectedCredit("sla_credit", Decimal("-47.07"), *period, "provider-a", "sla-1"),
    ]
    lines, planted = generate_invoice(
        exp, vms, errors=ALL_ERRORS, credits=credits, form=form, bill_unmetered_hours=False
    )
    assert {p.rule_id for p in planted} == set(ALL_ERRORS)
    parsed = _reparse(lines, form, period)
    assert parsed.ok, parsed.errors[:3]
    pol = VerificationPolicy(bill_unmetered_hours=False)
    res = verify(
        parsed.lines, exp, period, vms=vms, policy=pol, provider="provider-a", credits=credits
    )
    got = sorted((f.rule_id, f.line_numbers, f.amount_at_stake) for f in res.findings)
    want = sorted((p.rule_id, p.line_numbers, p.amount_at_stake) for p in planted)
    assert got == want
