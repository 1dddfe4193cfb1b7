"""Invoice parsing: mappings, Chinese headers, encodings, row-level errors."""

from __future__ import annotations

import codecs
import datetime as dt
from decimal import Decimal as D

import pytest

from cloudtally.core.invoice import (
    InvoiceError,
    LineParser,
    decode_chunks,
    default_provider_mapping,
    detect_encoding,
    focus_mapping,
    mapping_from_dict,
    parse_decimal,
    parse_rate,
    parse_rows,
)

HEADER = [
    "资源ID",
    "资源名称",
    "资源类型",
    "计费周期",
    "数量",
    "单位",
    "单价",
    "原价金额",
    "折扣",
    "金额",
]


def test_chinese_headers_parse_to_normalised_lines():
    m = default_provider_mapping("telecom")
    rows = [
        HEADER,
        [" VM-001 ", "web", "vCPU", "2024-01", "2,976", "核·时", "0.05", "148.80", "55%", "¥81.84"],
        ["vm-002", "db", "内存", "2024年1月", "5952", "GB·时", "0.01", "59.52", "5.5折", "32.74"],
        ["", "", "", "", "", "", "", "", "", ""],
        [
            "vm-003",
            "",
            "高性能存储",
            "2024-01-01~2024-01-31",
            "100",
            "",
            "0.002",
            "",
            "0.55",
            "0.11",
        ],
    ]
    res = parse_rows(rows, m)
    assert res.ok and res.rows == 3
    a, b, c = res.lines
    assert (a.line_no, a.resource_key, a.resource_type) == (2, "vm-001", "vcpu")
    assert a.quantity == D(2976) and a.amount == D("81.84") and a.discount_rate == D("0.55")
    assert b.resource_type == "memory" and b.discount_rate == D("0.55")
    assert a.period_start == dt.datetime(2023, 12, 31, 16, tzinfo=dt.UTC)
    assert a.period_end == dt.datetime(2024, 1, 31, 16, tzinfo=dt.UTC)
    assert c.line_no == 5 and c.resource_type == "storage_performance"
    assert (c.period_start, c.period_end) == (a.period_start, a.period_end)


def test_bad_rows_name_row_column_and_reason():
    m = default_provider_mapping("telecom")
    rows = [
        HEADER,
        ["vm-1", "", "vCPU", "2024-01", "abc", "", "0.05", "", "", "1.00"],
        ["vm-2", "", "vCPU", "2024-13", "1", "", "0.05", "", "", "1.00"],
        ["vm-3", "", "vCPU", "2024-01", "1", "", "0.05", "", "", ""],
        ["", "", "vCPU", "2024-01", "1", "", "0.05", "", "", "1.00"],
        ["vm-5", "", "vCPU", "2024-01", "1", "", "0.05", "", "150%", "1.00"],
        ["vm-6", "", "vCPU", "2024-01", "1", "", "0.05", "", "", "1.00"],
    ]
    res = parse_rows(rows, m)
    assert not res.ok and res.error_count == 5 and len(res.lines) == 1
    errs = [(e.row, e.column) for e in res.errors]
    assert errs == [(2, "数量"), (3, "计费周期"), (4, "金额"), (5, "资源ID"), (6, "折扣")]
    assert "not a number" in res.errors[0].reason and res.errors[0].value == "abc"
    assert "row 2, column '数量'" in str(res.errors[0])


def test_missing_columns_and_empty_files_are_clear_errors():
    m = default_provider_mapping("telecom")
    with pytest.raises(InvoiceError, match=r"missing columns: 数量.*金额"):
        LineParser(["资源ID", "资源类型", "计费周期"], m)
    with pytest.raises(InvoiceError, match="empty"):
        parse_rows([], m)
    with pytest.raises(InvoiceError, match="no invoice lines"):
        parse_rows([HEADER], m)


def test_garbled_header_hints_at_encoding():
    m = default_provider_mapping("telecom")
    garbled = ",".join(HEADER).encode("gb18030").decode("latin-1").split(",")
    with pytest.raises(InvoiceError, match="encoding"):
        LineParser(garbled, m)


def test_encodings_detected_and_wrong_encoding_refused():
    text = ",".join(HEADER) + "\n"
    assert detect_encoding(text.encode("utf-8")) == "utf-8"
    assert detect_encoding(codecs.BOM_UTF8 + text.encode("utf-8")) == "utf-8-sig"
    assert detect_encoding(text.encode("gb18030")) == "gb18030"
    with pytest.raises(InvoiceError, match="UTF-16"):
        detect_encoding(text.encode("utf-16"))
    decoded = "".join(decode_chunks([codecs.BOM_UTF8 + text.encode()], "utf-8"))
    assert decoded == text
    with pytest.raises(InvoiceError, match="not valid utf-8"):
        list(decode_chunks([text.encode("gb18030")], "utf-8"))


def test_numbers_and_rates():
    assert parse_decimal("1,234.50") == D("1234.50")
    assert parse_decimal("(12.00)") == D("-12.00")
    assert parse_decimal("￥３.５") == D("3.5")
    for bad in ("NaN", "inf", "1.2.3", "--"):
        with pytest.raises(ValueError):
            parse_decimal(bad)
    assert parse_rate("55%") == parse_rate("5.5折") == parse_rate("0.55") == parse_rate("55")


def test_focus_rows_use_charge_and_billing_periods():
    m = focus_mapping("p1")
    header = [
        "BilledCost",
        "ListCost",
        "ListUnitPrice",
        "PricingQuantity",
        "PricingUnit",
        "ResourceId",
        "ResourceType",
        "SkuMeter",
        "ChargePeriodStart",
        "ChargePeriodEnd",
        "BillingPeriodStart",
        "BillingPeriodEnd",
        "ChargeCategory",
        "BillingCurrency",
        "InvoiceId",
        "ServiceProviderName",
    ]
    row = [
        "81.835",
        "148.80",
        "0.05",
        "2976",
        "vCPU-Hours",
        "vm-1",
        "Virtual Machine",
        "vCPU",
        "2023-12-31T16:00:00Z",
        "2024-01-31T16:00:00Z",
        "2023-12-31T16:00:00Z",
        "2024-01-31T16:00:00Z",
        "Usage",
        "CNY",
        "INV-1",
        "P1",
    ]
    res = parse_rows([header, row], m)
    (ln,) = res.lines
    assert ln.amount == D("81.84")  # half-up to the fen
    assert ln.resource_type == "vcpu" and ln.invoice_no == "INV-1" and ln.provider_name == "P1"
    assert ln.billing_period_start == dt.datetime(2023, 12, 31, 16, tzinfo=dt.UTC)
    with pytest.raises(InvoiceError, match="ChargeCategory"):
        LineParser(header[:12], m)


def test_mapping_documents_are_validated():
    doc = {
        "provider": "p",
        "columns": {
            "resource_id": "ID",
            "resource_type": "T",
            "period": "P",
            "quantity": "Q",
            "amount": "A",
        },
        "resource_types": {"计算资源": "vcpu"},
    }
    m = mapping_from_dict(doc)
    assert m.type_aliases()["计算资源"] == "vcpu"
    with pytest.raises(InvoiceError, match="unknown field"):
        mapping_from_dict({**doc, "columns": {**doc["columns"], "colour": "C"}})
    with pytest.raises(InvoiceError, match="lacks required"):
        mapping_from_dict({**doc, "columns": {"resource_id": "ID"}})
    with pytest.raises(InvoiceError, match="not one of"):
        mapping_from_dict({**doc, "resource_types": {"x": "gpu"}})
    with pytest.raises(InvoiceError, match="encoding"):
        mapping_from_dict({**doc, "encoding": "klingon"})


def test_parse_many_equals_the_row_parser_for_valid_and_bad_batches():
    """The column-at-a-time batch parser gives exactly the row parser's lines and errors."""
    m = default_provider_mapping("telecom")
    good = [
        ["ECS-001 ", "web", "vCPU", "2024-01", "1,488", "核时", "0.05", "74.40", "55%", "40.92"],
        ["ecs-001", "web", "内存", "2024年1月", "0.000", "GB时", "0.01", "0.00", "5.5折", "0"],
        ["ECS-002", "", "冷存储", "2024-01-01~2024-01-15", "10", "GB", "", "", "", "¥1.005"],
        ["ECS-003", "db", "SSD", "2024/01/02", "3.5", "GB", "0.2", "", "0.55", "(0.39)"],
        ["ECS-004", "x", "GPU", "2024-01", "1", "个", "9", "9", "1", "9"],
    ]
    bad = [
        ["ECS-005", "x", "vCPU", "2024-13", "1", "核时", "1", "1", "1", "1"],  # bad month
        ["ECS-006", "x", "vCPU", "2024-01", "-1", "核时", "1", "1", "1", "1"],  # negative
        ["", "x", "vCPU", "2024-01", "1", "核时", "1", "1", "1", "1"],  # no resource id
        ["ECS-007", "x", "vCPU", "2024-01", "1", "核时", "1", "1", "1", "abc"],  # amount
        ["ECS-008", "x", "vCPU", "2024-01", "1", "核时", "1", "1", "1", "1", "extra"],
        ["ECS-009", "x", "vCPU"],  # short row: the rest empty
    ]

    def by_rows(rows):
        parser = LineParser(HEADER, m)
        lines, errors = [], []
        for no, raw in rows:
            try:
                lines.append(parser.parse(no, raw))
            except ValueError as exc:
                errors.append(exc.error)  # type: ignore[attr-defined]
        return lines, errors

    numbered = list(enumerate(good, start=2))
    fast = LineParser(HEADER, m).parse_many(numbered)
    assert fast == by_rows(numbered)
    assert len(fast[0]) == len(good) and fast[1] == []
    assert LineParser(HEADER, m)._parse_columns(numbered) == fast[0]  # the fast path took it
    assert fast[0][1].quantity == D(0) and fast[0][2].amount == D("1.01")
    assert fast[0][0].resource_key == fast[0][1].resource_key == "ecs-001"
    mixed = list(enumerate(good[:2] + bad + good[2:], start=2))
    slow = LineParser(HEADER, m).parse_many(mixed)
    assert slow == by_rows(mixed)
    assert [e.row for e in slow[1]] == [4, 5, 6, 7, 8, 9]
