"""Verification core: a clean invoice gives nothing; each planted error exactly its finding."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D
from zoneinfo import ZoneInfo

import pytest

from cloudtally.core.invoice import (
    DEFAULT_TYPE_ALIASES,
    InvoiceLine,
    money,
    norm_key,
    norm_resource_id,
)
from cloudtally.core.verification import (
    Adjustment,
    ExpectedCharge,
    Tolerances,
    VerificationPolicy,
    VmLifecycle,
    verify,
)

SH = ZoneInfo("Asia/Shanghai")
JAN = (dt.datetime(2024, 1, 1, tzinfo=SH), dt.datetime(2024, 2, 1, tzinfo=SH))
DEC = (dt.datetime(2023, 12, 1, tzinfo=SH), dt.datetime(2024, 1, 1, tzinfo=SH))
PRICE = {"vcpu": D("0.05"), "memory": D("0.01"), "storage_archive": D("0.0005")}
TENDER = Adjustment("tender_discount", D("0.55"), "tender-2024")
CUT = Adjustment("low_utilization_cut", D("0.8"), "low-util-20")
TIER = Adjustment("volume_tier", D("0.95"), "tier-1")


def charge(vm: str, rtype: str, qty: str, adjs=(TENDER,), **kw) -> ExpectedCharge:
    q = D(qty)
    p = PRICE[rtype]
    lst = money(q * p)
    f = D(1)
    for a in adjs:
        f *= a.factor
    return ExpectedCharge(
        resource_id=vm,
        resource_type=rtype,
        period_start=JAN[0],
        period_end=JAN[1],
        quantity=q,
        unit_price=p,
        list_amount=lst,
        discounted_amount=money(lst * D("0.55")),
        expected_amount=money(lst * f),
        unit="vCPU·h" if rtype == "vcpu" else "GB·h",
        adjustments=tuple(adjs),
        metered_hours=D(744),
        bureau=f"bureau-{vm[-1]}",
        pool="pool-1",
        provider="p1",
        tariff_version="t1",
        **kw,
    )


def line(
    no: int, vm: str, rtype: str, qty, price, amount, *, list_amount=None, rate=None, period=JAN
) -> InvoiceLine:
    canon = DEFAULT_TYPE_ALIASES.get(norm_key(rtype), "")
    return InvoiceLine(
        line_no=no,
        resource_id=vm,
        resource_key=norm_resource_id(vm),
        resource_type_raw=rtype,
        resource_type=canon,
        period_start=period[0].astimezone(dt.UTC),
        period_end=period[1].astimezone(dt.UTC),
        quantity=D(str(qty)),
        unit_price=None if price is None else D(str(price)),
        amount=D(str(amount)),
        list_amount=None if list_amount is None else D(str(list_amount)),
        discount_rate=None if rate is None else D(str(rate)),
    )


def clean_line(no: int, e: ExpectedCharge, *, raw_type: str | None = None, rid=None) -> InvoiceLine:
    return line(
        no,
        rid or e.resource_id,
        raw_type or e.resource_type,
        e.quantity,
        e.unit_price,
        e.expected_amount,
        list_amount=e.list_amount,
        rate=e.net_factor,
    )


def fleet() -> list[ExpectedCharge]:
    return [
        charge("vm-001", "vcpu", "2976"),
        charge("vm-001", "memory", "5952"),
        charge("vm-002", "memory", "5952"),
        charge("vm-003", "vcpu", "2976", adjs=(TENDER, CUT)),
        charge("vm-004", "vcpu", "2976"),
        charge("vm-006", "vcpu", "2880", gap_hours=D(24), gap_quantity=D(96)),
        charge("vm-007", "memory", "5952"),
        charge("vm-008", "vcpu", "2976"),
        charge("vm-009", "vcpu", "2976"),
        charge("vm-010", "vcpu", "2976", adjs=(TENDER, TIER)),
        charge("vm-011", "memory", "5952"),
        charge("vm-012", "vcpu", "2976"),
    ]


VMS = {
    "vm-005": VmLifecycle(
        "vm-005",
        deleted_at=dt.datetime(2023, 12, 20, tzinfo=SH),
        bureau="bureau-5",
        pool="pool-1",
        provider="p1",
    ),
}


def test_clean_invoice_has_no_findings_even_with_provider_naming():
    exp = fleet()
    names = {"vcpu": " vCPU ", "memory": "内存"}
    lines = [
        clean_line(i + 2, e, raw_type=names[e.resource_type], rid=e.resource_id.upper() + " ")
        for i, e in enumerate(exp)
    ]
    res = verify(lines, exp, JAN, vms=VMS, provider="p1")
    assert res.findings == []
    assert res.matched_lines == len(exp)
    assert res.billed_total == sum(e.expected_amount for e in exp)
    assert res.verified_total == res.billed_total
    assert res.over_total == 0 and res.under_total == 0


def planted_invoice():
    exp = {(e.resource_id, e.resource_type): e for e in fleet()}
    lines = [clean_line(2, exp["vm-001", "vcpu"]), clean_line(3, exp["vm-001", "memory"])]
    # P1: December charge on a January invoice
    lines.append(
        line(
            4,
            "vm-001",
            "vcpu",
            2976,
            "0.05",
            "81.84",
            list_amount="148.80",
            rate="0.55",
            period=DEC,
        )
    )
    # D1: vm-002 memory billed twice
    lines.append(clean_line(5, exp["vm-002", "memory"]))
    lines.append(clean_line(6, exp["vm-002", "memory"]))
    # R2: low-utilization cut missing (only tender applied)
    lines.append(
        line(7, "vm-003", "vcpu", 2976, "0.05", "81.84", list_amount="148.80", rate="0.55")
    )
    # A1: amount is 10.00 more than its own figures give
    lines.append(
        line(8, "vm-004", "vcpu", 2976, "0.05", "91.84", list_amount="148.80", rate="0.55")
    )
    # B2: vm-005 deleted in December, billed for January
    lines.append(
        line(9, "vm-005", "memory", 5952, "0.01", "32.74", list_amount="59.52", rate="0.55")
    )
    # G1: 96 vCPU-hours of metering gap billed (policy: unmetered hours not billable)
    lines.append(
        line(10, "vm-006", "vcpu", 2976, "0.05", "81.84", list_amount="148.80", rate="0.55")
    )
    # Q1: memory quantity above metered
    lines.append(
        line(11, "vm-007", "memory", 6500, "0.01", "35.75", list_amount="65.00", rate="0.55")
    )
    # U1: unit price 0.06 instead of the catalog 0.05
    lines.append(
        line(12, "vm-008", "vcpu", 2976, "0.06", "98.21", list_amount="178.56", rate="0.55")
    )
    # R1: tender discount missing
    lines.append(line(13, "vm-009", "vcpu", 2976, "0.05", "148.80", list_amount="148.80", rate="1"))
    # R3: volume tier missing
    lines.append(
        line(14, "vm-010", "vcpu", 2976, "0.05", "81.84", list_amount="148.80", rate="0.55")
    )
    # B1: unknown VM
    lines.append(line(15, "vm-999", "vcpu", 744, "0.05", "20.46", list_amount="37.20", rate="0.55"))
    lines.append(clean_line(16, exp["vm-012", "vcpu"]))
    # B3: known VM billed for a resource it does not have
    lines.append(
        line(17, "vm-012", "归档存储", 1000, "0.0005", "0.28", list_amount="0.50", rate="0.55")
    )
    # V1: a resource type cloudtally does not meter
    lines.append(line(18, "vm-012", "网络带宽", 10, "1", "5.50", list_amount="10.00", rate="0.55"))
    # M1: vm-011 memory metered, never billed
    return list(exp.values()), lines


def test_every_planted_error_gives_exactly_its_finding():
    exp, lines = planted_invoice()
    pol = VerificationPolicy(bill_unmetered_hours=False)
    res = verify(lines, exp, JAN, vms=VMS, policy=pol, provider="p1")
    got = [(f.rule_id, f.line_numbers, f.amount_at_stake) for f in res.findings]
    assert got == [
        ("P1", (4,), D("81.84")),
        ("D1", (5, 6), D("32.74")),
        ("R2", (7,), D("16.37")),
        ("A1", (8,), D("10.00")),
        ("B2", (9,), D("32.74")),
        ("G1", (10,), D("2.64")),
        ("Q1", (11,), D("3.01")),
        ("U1", (12,), D("16.37")),
        ("R1", (13,), D("66.96")),
        ("R3", (14,), D("4.09")),
        ("B1", (15,), D("20.46")),
        ("B3", (17,), D("0.28")),
        ("V1", (18,), D("5.50")),
        ("M1", (), D("-32.74")),
    ]
    kinds = {f.rule_id: f.kind for f in res.findings}
    assert kinds["G1"] == "billed_not_metered" and kinds["R3"] == "discount_missing"
    q1 = next(f for f in res.findings if f.rule_id == "Q1")
    assert q1.evidence["metered_quantity"] == "5952" and q1.evidence["billed_quantity"] == "6500"
    m1 = res.findings[-1]
    assert m1.resource_id == "vm-011" and m1.bureau == "bureau-1"
    # totals add up line by line: billed − stakes = verified
    assert res.billed_total == sum(ln.amount for ln in lines)
    stakes = sum(f.amount_at_stake for f in res.findings)
    assert res.verified_total == res.billed_total - stakes
    # a second run gives the same findings in the same order
    again = verify(
        list(reversed(lines)), list(reversed(exp)), JAN, vms=VMS, policy=pol, provider="p1"
    )
    assert again.findings == res.findings


def test_gap_billed_on_allocation_is_informational():
    e = charge("vm-006", "vcpu", "2976", gap_hours=D(100), gap_quantity=D(400))
    res = verify([clean_line(2, e)], [e], JAN, provider="p1")
    assert [(f.rule_id, f.severity, f.amount_at_stake) for f in res.findings] == [
        ("G2", "info", D(0))
    ]
    assert res.over_total == 0


def test_quantity_below_metered_is_under_billing_and_two_missing_cuts_split():
    e = charge("vm-003", "vcpu", "2976", adjs=(TENDER, CUT))
    # billed 2000 vCPU-h at list price: quantity short, tender and cut both missing
    ln = line(2, "vm-003", "vcpu", 2000, "0.05", "100.00", list_amount="100.00", rate="1")
    res = verify([ln], [e], JAN, provider="p1")
    got = {f.rule_id: f.amount_at_stake for f in res.findings}
    rate = e.expected_amount / e.quantity
    assert got["Q2"] == money(D(-976) * rate)
    assert set(got) == {"Q2", "R1", "R2"}
    assert sum(got.values()) == D("100.00") - e.expected_amount
    assert res.under_total == got["Q2"]


def test_tolerances_absorb_rounding_and_are_configurable():
    e = charge("vm-001", "vcpu", "2976")
    ln = line(2, "vm-001", "vcpu", 2976, "0.05", "81.85")  # one fen more
    assert verify([ln], [e], JAN).findings == []
    strict = VerificationPolicy(tolerances=Tolerances(money_abs=D(0)))
    res = verify([ln], [e], JAN, policy=strict)
    assert [(f.rule_id, f.amount_at_stake) for f in res.findings] == [("X1", D("0.01"))]
    loose = VerificationPolicy(tolerances=Tolerances(money_abs=D("0.5")))
    ln2 = line(2, "vm-001", "vcpu", 2976, "0.05", "82.20")
    assert verify([ln2], [e], JAN, policy=loose).findings == []


def test_split_lines_in_one_period_are_summed_not_duplicates():
    e = charge("vm-001", "vcpu", "2976")
    mid = dt.datetime(2024, 1, 16, tzinfo=SH)
    a = line(2, "vm-001", "vcpu", 1440, "0.05", "39.60", period=(JAN[0], mid))
    b = line(3, "vm-001", "vcpu", 1536, "0.05", "42.24", period=(mid, JAN[1]))
    assert verify([a, b], [e], JAN).findings == []


def test_billed_after_deletion_within_the_period():
    e = charge("vm-001", "vcpu", "1440", deleted_at=dt.datetime(2024, 1, 16, tzinfo=SH))
    ln = line(2, "vm-001", "vcpu", 2976, "0.05", "81.84")
    res = verify([ln], [e], JAN)
    assert [(f.rule_id, f.amount_at_stake) for f in res.findings] == [
        ("B2", D("81.84") - e.expected_amount)
    ]
    assert res.findings[0].evidence["deleted_at"].startswith("2024-01-15T16:00:00")


@pytest.mark.parametrize("category", ["tax", "credit"])
def test_non_usage_charges_are_unverifiable(category):
    ln = InvoiceLine(
        line_no=2,
        resource_id="",
        resource_key="",
        resource_type_raw="",
        resource_type="",
        period_start=JAN[0],
        period_end=JAN[1],
        quantity=D(0),
        amount=D("-5.00") if category == "credit" else D("6.00"),
        charge_category=category,
    )
    res = verify([ln], [], JAN)
    assert [f.rule_id for f in res.findings] == ["V2"]
    assert res.findings[0].amount_at_stake == ln.amount


def test_volume_tier_credit_checked_at_invoice_level():
    from cloudtally.core.verification import ExpectedCredit

    e = charge("vm-001", "vcpu", "2976")
    tier = ExpectedCredit("volume_tier", D("-1.64"), JAN[0], JAN[1], "p1", "t1")
    credit = InvoiceLine(
        line_no=3,
        resource_id="",
        resource_key="",
        resource_type_raw="",
        resource_type="",
        period_start=JAN[0],
        period_end=JAN[1],
        quantity=D(0),
        amount=D("-1.64"),
        charge_category="credit",
    )
    assert verify([clean_line(2, e), credit], [e], JAN, credits=[tier]).findings == []
    res = verify([clean_line(2, e)], [e], JAN, credits=[tier], provider="p1")
    assert [(f.rule_id, f.amount_at_stake) for f in res.findings] == [("R3", D("1.64"))]
    assert res.verified_total == D("80.20")
