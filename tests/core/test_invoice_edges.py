# ruff: noqa: E501  (invoice rows are kept one per line, as the provider writes them)
"""Invoices in units, periods, currencies and columns the project's own layout never uses.

Each case is built by hand as another provider writes it, not by the generator.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D
from zoneinfo import ZoneInfo

import pytest

from cloudtally.core.invoice import (
    InvoiceError,
    convert_currency,
    mapping_from_dict,
    money,
    money_text,
    parse_rows,
)
from cloudtally.core.units import basis_of
from cloudtally.core.verification import (
    Adjustment,
    ExpectedCharge,
    Finding,
    VerificationPolicy,
    VmLifecycle,
    verify,
)
from cloudtally.i18n.findings import render

SH = ZoneInfo("Asia/Shanghai")
JAN = (dt.datetime(2024, 1, 1, tzinfo=SH), dt.datetime(2024, 2, 1, tzinfo=SH))
TENDER = Adjustment("tender_discount", D("0.55"), "tender")

HEADER = [
    "委办局",
    "实例ID",
    "计费项",
    "开始日期",
    "结束日期",
    "用量",
    "用量单位",
    "单价",
    "计价单位",
    "结算金额",
]
MAPPING = {
    "provider": "p2",
    "period_end": "exclusive",
    "columns": {
        "bureau": "委办局",
        "resource_id": "实例ID",
        "resource_type": "计费项",
        "period_start": "开始日期",
        "period_end": "结束日期",
        "quantity": "用量",
        "unit": "用量单位",
        "unit_price": "单价",
        "price_unit": "计价单位",
        "amount": "结算金额",
    },
    "resource_types": {"云主机CPU": "vcpu", "云主机内存": "memory", "云硬盘": "storage_standard"},
    "bureaus": {"市场监督管理局": "bureau-1"},
}


def said(f: Finding, lang: str = "en") -> str:
    """The finding's sentence as a reader sees it (rendered from its evidence)."""
    return render(f.rule_id, f.evidence, lang, stored_id=f.message_id,
                  resource_id=f.resource_id, resource_type=f.resource_type)  # fmt: skip


def monthly(vm: str, rtype: str, unit_hours: str, price: str, bureau="bureau-1") -> ExpectedCharge:
    """A charge rated from a monthly catalog (720 h): quantity in unit-months, as stored."""
    hours = D(unit_hours)
    q = hours / 720
    lst = money(hours * D(price) / 720)
    return ExpectedCharge(
        resource_id=vm,
        resource_type=rtype,
        period_start=JAN[0].astimezone(dt.UTC),
        period_end=JAN[1].astimezone(dt.UTC),
        quantity=q,
        unit_price=D(price),
        list_amount=lst,
        discounted_amount=money(lst * D("0.55")),
        expected_amount=money(lst * D("0.55")),
        unit="vCPU-month" if rtype == "vcpu" else "GB-month",
        adjustments=(TENDER,),
        metered_hours=D(744),
        bureau=bureau,
        pool="pool-1",
        provider="p2",
        tariff_version="t1",
        unit_hours=D(720),
        owners=(bureau,),
    )


FLEET = [
    monthly("vm-1", "vcpu", "1488", "36"),  # 2 vCPU: 74.40 list, 40.92 billed
    monthly("vm-1", "memory", "2976", "7.2"),  # 4 GB: 29.76 list, 16.37 billed
    monthly("vm-1", "storage_standard", "74400", "0.72"),  # 100 GB: 74.40 list
    monthly("vm-2", "vcpu", "5952", "36"),  # 8 vCPU
]


def rows_in_core_hours(*, vm2_hours="5952", bureau2="市场监督管理局") -> list[list[str]]:
    """The same money as FLEET in core-hours / GB-hours at hourly list prices (55 % paid);
    storage in GB·月 at the monthly price."""
    return [
        HEADER,
        ["市场监督管理局", "VM-1", "云主机CPU", "2024-01-01", "2024-02-01", "1488", "核·时", "0.05", "元/核·时", "40.92"],
        ["市场监督管理局", "vm-1", "云主机内存", "2024-01-01", "2024-02-01", "2976", "GB·时", "0.01", "元/GB·时", "16.37"],
        ["市场监督管理局", "vm-1", "云硬盘", "2024-01-01", "2024-02-01", "103.3333", "GB·月", "0.72", "元/GB·月", "40.92"],
        [bureau2, "vm-2", "云主机CPU", "2024-01-01", "2024-02-01", vm2_hours, "核时", "0.05", "", money_text(D(vm2_hours) * D("0.0275"))],
    ]  # fmt: skip


def parse(rows, **over):
    res = parse_rows(rows, mapping_from_dict({**MAPPING, **over}))
    assert res.ok, res.errors
    return res.lines


def test_same_money_in_core_hours_and_hourly_prices_verifies_clean():
    lines = parse(rows_in_core_hours())
    assert [(ln.quantity_per, ln.price_per) for ln in lines] == [
        ("hour", "hour"),
        ("hour", "hour"),
        ("month", "month"),
        ("hour", "hour"),
    ]
    res = verify(lines, FLEET, (JAN[0], JAN[1]), provider="p2")
    assert res.findings == []
    assert res.verified_total == res.billed_total == sum(e.expected_amount for e in FLEET)


def test_without_units_core_hours_would_be_read_as_months():
    """The failure the units fix: the same file with no unit columns is hundreds of times off."""
    rows = [[c for i, c in enumerate(r) if i not in (6, 8)] for r in rows_in_core_hours()]
    mapping = {**MAPPING, "columns": {k: v for k, v in MAPPING["columns"].items()}}
    del mapping["columns"]["unit"], mapping["columns"]["price_unit"]
    lines = parse_rows(rows, mapping_from_dict(mapping)).lines
    assert {f.rule_id for f in verify(lines, FLEET, JAN, provider="p2").findings} >= {"Q1"}
    # declaring the units in the mapping instead of per line fixes it
    mapping["units"] = {"quantity": "hour", "price": "hour", "storage_standard": {"quantity": "month", "price": "month"}}  # fmt: skip
    lines = parse_rows(rows, mapping_from_dict(mapping)).lines
    assert verify(lines, FLEET, JAN, provider="p2").findings == []


def test_findings_speak_the_invoices_unit():
    lines = parse(rows_in_core_hours(vm2_hours="6696"))  # 9 cores billed, 8 metered
    res = verify(lines, FLEET, JAN, provider="p2")
    [q1] = res.findings
    assert q1.rule_id == "Q1"
    assert said(q1) == "billed 6696 核时, metered 5952 核时"
    assert said(q1, "zh") == "计费 6696 核时，计量 5952 核时：多收"
    assert q1.evidence["unit"] == "核时"
    assert q1.evidence["billed_quantity"] == "6696" and q1.evidence["metered_quantity"] == "5952"
    assert q1.evidence["catalog_unit"] == "vCPU-month"
    assert q1.amount_at_stake == money(D(744) * D("0.0275"))  # one core for a month, 20.46


def test_a_declaration_the_line_contradicts_is_a_row_error():
    res = parse_rows(
        rows_in_core_hours(), mapping_from_dict({**MAPPING, "units": {"quantity": "month"}})
    )
    assert not res.ok
    assert res.errors[0].row == 2 and res.errors[0].column == "用量单位"
    assert "declares quantities per month" in res.errors[0].reason


@pytest.mark.parametrize(
    ("text", "basis"),
    [("核·时", "hour"), ("GB·月", "month"), ("vCPU-hour", "hour"), ("GB-month", "month"),
     ("核·天", "day"), ("元/核/月", "month"), ("核小时", "hour"), ("GB×日", "day"), ("台", ""),
     ("核", ""), ("GB", "")],
)  # fmt: skip
def test_unit_texts(text, basis):
    assert basis_of(text) == basis


def test_exclusive_end_dates_are_the_first_day_not_billed():
    lines = parse(rows_in_core_hours())
    assert (lines[0].period_start, lines[0].period_end) == (
        JAN[0].astimezone(dt.UTC),
        JAN[1].astimezone(dt.UTC),
    )
    inclusive = parse(rows_in_core_hours(), period_end="inclusive")
    assert inclusive[0].period_end == dt.datetime(2024, 2, 2, tzinfo=SH).astimezone(dt.UTC)
    # inclusive ends on this file put every line outside January: P1 on all of them
    res = verify(inclusive, FLEET, JAN, provider="p2")
    assert {f.rule_id for f in res.findings} == {"P1", "M1"}
    with pytest.raises(InvoiceError, match="period_end"):
        mapping_from_dict({**MAPPING, "period_end": "open"})


def test_bureau_billed_differs_from_metered_owner():
    lines = parse(rows_in_core_hours(bureau2="教育局"))
    assert lines[0].bureau == "bureau-1"  # the mapping's alias
    res = verify(lines, FLEET, JAN, provider="p2")
    [o1] = res.findings
    assert (o1.rule_id, o1.line_numbers, o1.resource_id) == ("O1", (5,), "vm-2")
    assert o1.evidence["billed_bureau"] == "教育局"
    assert o1.evidence["metered_owner"] == "bureau-1"
    assert o1.bureau == "bureau-1"  # the money belongs to the owner's totals
    assert res.over_total == 0 and res.verified_total == res.billed_total


def test_wrong_contracted_cost_is_one_finding_with_its_stake():
    from cloudtally.core.invoice import InvoiceLine

    e = monthly("vm-1", "vcpu", "1488", "36")
    ln = InvoiceLine(
        line_no=2,
        resource_id="vm-1",
        resource_key="vm-1",
        resource_type_raw="vCPU",
        resource_type="vcpu",
        period_start=e.period_start,
        period_end=e.period_end,
        quantity=e.quantity,
        amount=D("50.92"),
        contracted_unit_price=D("19.80"),  # 36 × 0.55
        contracted_amount=D("50.92"),  # q × 19.80 is 40.92
    )
    res = verify([ln], [e], JAN, provider="p2")
    assert [(f.rule_id, f.amount_at_stake) for f in res.findings] == [("A1", D("10.00"))]
    a1 = res.findings[0]
    assert a1.evidence["quantity_x_contracted_unit_price"] == "40.92"
    assert "contracted cost 50.92 is not quantity × contracted unit price = 40.92" in said(a1)
    assert res.over_total == D("10.00")


def test_unknown_ids_are_billed_not_metered_whatever_their_type():
    rows = rows_in_core_hours()
    rows.append(["教育局", "eip-77", "弹性公网IP", "2024-01-01", "2024-02-01", "1", "个·月", "20", "", "20.00"])  # fmt: skip
    rows.append(["市场监督管理局", "vm-1", "GPU", "2024-01-01", "2024-02-01", "1", "卡·月", "900", "", "900.00"])  # fmt: skip
    lines = parse(rows)
    vms = {"vm-1": VmLifecycle("vm-1", bureau="bureau-1", pool="pool-1", provider="p2")}
    res = verify(lines, FLEET, JAN, provider="p2", vms=vms)
    got = [(f.rule_id, f.line_numbers, f.amount_at_stake) for f in res.findings]
    assert got == [("B1", (6,), D("20.00")), ("V1", (7,), D("900.00"))]
    # what cannot be verified is shown apart, never counted as over-billing
    assert res.over_total == D("20.00")
    assert res.unverified_total == D("900.00")
    assert res.verified_total == res.billed_total - D("920.00")


def test_currency_conversion_is_exact_and_names_what_it_cannot_convert():
    rows = rows_in_core_hours()
    rows[0] = [*rows[0], "币种"]
    for r in rows[1:]:
        r.append("美元")
    mapping = {**MAPPING, "columns": {**MAPPING["columns"], "currency": "币种"}}
    lines = parse_rows(rows, mapping_from_dict(mapping)).lines
    assert {ln.currency for ln in lines} == {"USD"}
    cny = convert_currency(lines, "USD", D("7.1234"))
    assert cny[0].amount == money(D("40.92") * D("7.1234")) == D("291.49")
    assert cny[0].unit_price == D("0.05") * D("7.1234") == D("0.356170")
    assert {ln.currency for ln in cny} == {"CNY"}
    assert lines[0].amount == D("40.92")  # the parsed lines are left as they were
    with pytest.raises(InvoiceError, match="row 2 is in USD; the rate given converts EUR"):
        convert_currency(lines, "EUR", D("7.8"))


def test_money_text_is_two_decimals():
    assert [money_text(D(x)) for x in ("-0.9", "12", "1E+2", "0.005")] == [
        "-0.90",
        "12.00",
        "100.00",
        "0.01",
    ]


def test_gap_policy_unchanged_by_units():
    """Conversion happens only where a basis is stated: a catalog-unit line is as before."""
    e = monthly("vm-1", "vcpu", "1488", "36")
    lines = parse(rows_in_core_hours())[:1]
    pol = VerificationPolicy(month_hours=D(730))  # the catalog's own month (720) wins
    assert verify(lines, [e], JAN, provider="p2", policy=pol).findings == []


def test_the_documented_example_is_the_shipped_mapping():
    import re
    from importlib import resources
    from pathlib import Path

    import yaml

    docs = (Path(__file__).parents[2] / "docs" / "invoices.md").read_text(encoding="utf-8")
    documented = re.findall(r"```yaml\n(.*?)```", docs, re.S)[-1]
    shipped = (
        resources.files("cloudtally.invoices") / "mappings" / "settlement-gb18030.yaml"
    ).read_text(encoding="utf-8")
    assert mapping_from_dict(yaml.safe_load(documented)) == mapping_from_dict(
        yaml.safe_load(shipped)
    )


def test_deletion_inside_the_period_names_the_partial_hour_rule():
    """Expected quantities are the rating's (bill lines), so the rule is the rating's; the
    finding says which one it was."""
    deleted = dt.datetime(2024, 1, 16, 10, 20, tzinfo=SH)
    e = monthly("vm-1", "vcpu", "727", "36")  # 2 vCPU to 16 Jan 10:20 per started hour
    e.deleted_at = deleted
    lines = parse(rows_in_core_hours())[:1]  # billed the whole month, 1488 核·时
    pol = VerificationPolicy(partial_hours="started_hour")
    [b2] = verify(lines, [e], JAN, provider="p2", policy=pol).findings
    assert b2.rule_id == "B2" and b2.evidence["partial_hours"] == "started_hour"
    assert said(b2).startswith("billed 1488 核·时 but the VM was deleted at 2024-01-16 10:20")
    assert b2.evidence["metered_quantity"] == "727"
