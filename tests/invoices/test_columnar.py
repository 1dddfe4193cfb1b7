# ruff: noqa: E501  (invoice rows are kept one per line, as the provider writes them)
"""The columnar import reader equals the row reader (both stores): the same stored lines,
rejects (reason ids, parameters, line numbers), import figures, progress and ledger hash
of the lines, on the planted-error generator and on files the project did not write —
the GB18030 settlement sheet, FOCUS rows with fractions of a fen, and a hand-written
CSV with padded cells, full-width digits, ¥ and % and 折, trailing zeros, Chinese and
emoji ids, credit lines, a blank row, an empty line, quoted commas and newlines, a BOM
and CR LF; with a bad row in the middle of a block. Each file is read both ways, and the
columnar reader must have taken rows of it where it can.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import sys
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest
from tests.invoices.test_edges import CLEAN, MAPPING, PLANTED, sheet, workbook

from cloudtally.audit import ledger
from cloudtally.audit.streamed import invoice_imported_parts
from cloudtally.core.hashchain import part_digests
from cloudtally.core.invoice import InvoiceError
from cloudtally.invoices import columnar
from cloudtally.invoices import store as inv_store
from cloudtally.invoices.generator import (
    ALL_ERRORS,
    generate_invoice,
    render_focus_csv,
    render_provider_csv,
    simulate_fleet,
)
from cloudtally.invoices.importer import ImportLimits, ImportRejected, import_invoice
from cloudtally.metrics import INVOICE_IMPORT_ROWS

LINE_COLUMNS = (
    "invoice_id", "line_no", "resource_id", "resource_key", "resource_name", "resource_type_raw",
    "resource_type", "charge_category", "charge_class", "period_start", "period_end", "quantity",
    "unit", "unit_price", "list_amount", "discount_rate", "contracted_unit_price",
    "contracted_amount", "amount", "currency", "pool", "region", "sku", "description", "bureau",
    "quantity_per", "price_per",
)  # fmt: skip


def _columnar_rows() -> float:
    return float(INVOICE_IMPORT_ROWS.labels("columnar")._value.get())


def _outcome(store: Any, source: Any, *, columnar: bool, **kw: Any) -> tuple[Any, float]:
    """What an import left and said, and how many rows the columnar reader took."""
    before = _columnar_rows()
    calls: list[tuple[int, int]] = []
    kw.setdefault("provider", "provider-a")
    try:
        res = import_invoice(
            store, source, columnar=columnar, progress=lambda r, b: calls.append((r, b)), **kw
        )
    except ImportRejected as exc:
        orphans = store.scalar(
            "SELECT count() FROM invoice_lines WHERE import_id NOT IN (SELECT import_id FROM invoices)"
        )
        errors = [dataclasses.astuple(e) for e in exc.errors]
        return ("rejected", errors, exc.error_count, exc.rows, orphans), _columnar_rows() - before
    except InvoiceError as exc:
        orphans = store.scalar(
            "SELECT count() FROM invoice_lines WHERE import_id NOT IN (SELECT import_id FROM invoices)"
        )
        return (
            "refused",
            type(exc).__name__,
            exc.reason_id,
            exc.params,
            str(exc),
            orphans,
        ), _columnar_rows() - before
    inv = inv_store.get_invoice(store, res.invoice_id)
    assert inv is not None
    import_id = inv.pop("import_id")
    for k in ("imported_at", "version"):
        inv.pop(k, None)
    cols = ", ".join(f"toString({c})" for c in LINE_COLUMNS)
    stored = store.rows(
        f"SELECT {cols} FROM invoice_lines WHERE invoice_id = %(i)s AND import_id = %(m)s ORDER BY line_no",
        {"i": res.invoice_id, "m": import_id},
    )
    subject = {"invoice_id": res.invoice_id, "import_id": import_id}
    lines_hash = [
        d for d in part_digests(invoice_imported_parts(store, subject)) if d[0] == "invoice_lines"
    ]
    assert all(r1 <= r2 for (r1, _), (r2, _) in itertools.pairwise(calls))  # never backwards
    entry = next(e for e in reversed(ledger.entries(store)) if e.subject == subject)
    assert [q for q in ledger.verify(store).problems if q.seq == entry.seq] == []  # verifies
    inv_store.set_status(store, res.invoice_id, "withdrawn")  # the same file may come again
    figures = (res.status, res.rows, res.billed_total, res.billing_period, res.file_hash, res.provider,
               res.source_currency, res.exchange_rate, calls[-1])  # fmt: skip
    return ("imported", figures, inv, stored, lines_hash), _columnar_rows() - before


def both_ways(store: Any, source: Any, **kw: Any) -> tuple[Any, float]:
    """The row reader's outcome, which the columnar reader must equal; its columnar rows."""
    rows, none = _outcome(store, source, columnar=False, **kw)
    assert none == 0
    cols, taken = _outcome(store, source, columnar=True, **kw)
    assert cols == rows
    return rows, taken


def test_python_whitespace_is_what_columnar_strips() -> None:
    spaces = "".join(c for c in map(chr, range(sys.maxunicode + 1)) if c.isspace())
    assert spaces == columnar.PY_SPACES


@pytest.mark.parametrize("chunk_rows", [1_000_000, 7])
def test_generated_invoice_with_planted_errors(store, chunk_rows: int) -> None:
    exp, vms = simulate_fleet(seed=21, vms=40, gap_share=0.3, low_util_share=0.4)
    lines, _ = generate_invoice(exp, vms, errors=[e for e in ALL_ERRORS if e != "R3"])
    limits = ImportLimits(chunk_rows=chunk_rows)
    for data in (render_provider_csv(lines), render_provider_csv(lines, encoding="gb18030")):
        outcome, taken = both_ways(store, data, limits=limits)
        assert outcome[0] == "imported" and taken > 0.8 * len(lines)


def test_settlement_sheet_gb18030_and_xlsx(store, tmp_path: Path) -> None:
    for body in (CLEAN, PLANTED):
        outcome, taken = both_ways(
            store, sheet(body, tmp_path), provider="provider-b", mapping=MAPPING
        )
        assert outcome[0] == "imported" and taken > 0
        outcome, taken = both_ways(
            store, workbook(body, tmp_path), provider="provider-b", mapping=MAPPING
        )
        assert outcome[0] == "imported" and taken > 0


def test_focus_rows_with_fractions_of_a_fen(store) -> None:
    exp, vms = simulate_fleet(seed=22, vms=12)
    lines, _ = generate_invoice(exp, vms, errors=["Q1", "U1"])
    period = (exp[0].period_start, exp[0].period_end)
    text = render_focus_csv(lines, provider="provider-a", billing_period=period).decode()
    rows = text.splitlines()
    # The first line's billed cost in fractions of a fen, the second's price with ten decimals.
    head = rows[0].split(",")
    for i, (col, value) in enumerate(
        [("BilledCost", "12.3456"), ("ListUnitPrice", "0.0000123456")], start=1
    ):
        cells = rows[i].split(",")
        cells[head.index(col)] = value
        rows[i] = ",".join(cells)
    data = ("\n".join(rows) + "\n").encode()
    outcome, taken = both_ways(store, data, fmt="focus", limits=ImportLimits(chunk_rows=5))
    assert outcome[0] == "imported" and taken > 0.5 * len(lines)


HEAD = (
    "资源ID,资源名称,资源类型,计费周期,数量,单位,单价,原价金额,折扣,金额,资源池,币种,费用类型,备注"
)
# Written by hand as spreadsheets and billing systems print them, every row valid.
FOREIGN = [
    "vm-A01,主机一,vCPU,2024-01,744,核·时,0.0417,31.02,0.55,17.06,pool-1,CNY,使用,",
    "VM-a02 ,\u3000主机二 ,内存 ,2024-01,1488.000,GB·时,0.02080,30.95,55%,17.02,pool-1,人民币,使用,普通",
    "政务云主机🚀,名称🚀,标准存储,2024年1月,74400,GB·时,0.0005,37.20,5.5折,20.46,pool-2,CNY,,",
    "ｖｍ－００３,全角,vcpu,2024-01-01~2024-01-31,０７４４,核·时,0.0417,31.02,0.550000,¥17.06,pool-3,￥,使用,",
    "vm-004,\xa0nbsp\xa0,ssd,2024-01,1E+2,GB·时,0.00100,0.10,55,0.1,pool-3,CNY,usage,",
    "vm-005,,内存,2024-01,0.000,GB·时,0.0208,0,0.55,0.00,pool-1,CNY,使用,零用量",
    ",,,2024-01,,,,,,(12.30),,CNY,抵扣,SLA 减免",
    "vm-006,x\x1cy,vCPU,2024-01,744.0000001,核·时,0.04170000,31.0200,0.5500,17.0600,pool-1,CNY,使用,",
    "vm-007,末尾,vCPU,2024-01,744,核·时,0.0417,31.02,1,31.02,pool-1,CNY,使用,",
    "VM-007 ,大写重复,内存,2024-01,1488,GB·时,0.0208,30.95,0.55,17.02,pool-1,CNY,使用,",
    ",,,,,,,,,,,,,",  # a blank row: skipped, its number used
    "vm-008,短行,vCPU,2024-01,744,核·时,0.0417,31.02,0.55,17.06,pool-1",  # fewer cells than the header
    "vm-009,宽行,vCPU,2024-01,744,核·时,0.0417,31.02,0.55,17.06,pool-1,CNY,使用,,,",  # empty cells past it
    "vm-010,-0,vCPU,2024-01,-0,核·时,-0,-0.00,0,-0.00,pool-1,CNY,调整,负零",
    "",  # an empty line: the rest is read by Python's csv reader
    'vm-011,"名称,带逗号",vCPU,2024-01,744,核·时,0.0417,31.02,0.55,17.06,pool-1,CNY,使用,"多行\n备注"',
    'vm-012,"引号""内""",vCPU,2024-01,"1,488",核·时,0.0417,"62.05",0.55,"34.13",pool-2,CNY,使用,',
    "vm-013,尾行,vCPU,2024-01,744,核·时,0.0417,31.02,0.55,17.06,pool-2,CNY,使用,",
]


def _file(rows: list[str], encoding: str = "utf-8-sig", newline: str = "\r\n") -> bytes:
    return (newline.join([HEAD, *rows]) + newline).encode(encoding)


@pytest.mark.parametrize("chunk_rows", [4, 1_000])
@pytest.mark.parametrize("encoding", ["utf-8-sig", "gb18030"])
def test_hand_written_invoice(store, chunk_rows: int, encoding: str) -> None:
    limits = ImportLimits(chunk_rows=chunk_rows)
    outcome, taken = both_ways(store, _file(FOREIGN, encoding), limits=limits)
    assert outcome[0] == "imported" and outcome[1][1] == len(FOREIGN) - 2
    assert taken > 0 if chunk_rows == 4 else taken == 0  # a blank row: the row parser's block
    # Every value odd, every row as wide as the header: the columnar reader takes them all.
    regular = [*FOREIGN[:10], FOREIGN[13]]
    outcome, taken = both_ways(
        store, _file(regular, encoding.replace("-sig", ""), "\n"), limits=limits
    )
    assert outcome[0] == "imported" and taken == len(regular)


@pytest.mark.parametrize("chunk_rows", [4, 1_000])
def test_bad_rows_in_the_middle_of_a_block(store, chunk_rows: int) -> None:
    rows = list(FOREIGN)
    rows[5] = rows[5].replace(",0.00,", ",12x.5,")  # row 7: an amount that is not a number
    rows[7] = rows[7].replace(",744.0000001,", ",-744,")  # row 9: a negative usage quantity
    rows[12] = rows[12].replace(",2024-01,", ",2024-13,")  # row 14: no such month
    rows.append("vm-014,x,vCPU,2024-01,744,核·时,0.0417,31.02,0.55,,pool-2,CNY,使用,")  # no amount
    outcome, _ = both_ways(store, _file(rows), limits=ImportLimits(chunk_rows=chunk_rows))
    assert outcome[0] == "rejected" and outcome[4] == 0
    assert [e[0] for e in outcome[1]] == [7, 9, 14, 20]


def test_refusals_of_the_whole_file(store, monkeypatch) -> None:
    more = ("\r\n".join(FOREIGN[:6]) + "\r\n").encode()
    bad_byte = (
        _file(FOREIGN[:6]) + b"vm-x,\xff\xfe,vCPU,2024-01,744,h,1,1.00,1,1.00,p,CNY,,\r\n" + more
    )
    outcome, _ = both_ways(store, bad_byte, limits=ImportLimits(chunk_rows=2))
    assert outcome[:3] == ("refused", "InvoiceError", "row_bad_bytes")
    outcome, _ = both_ways(store, _file(FOREIGN), limits=ImportLimits(chunk_rows=4, max_rows=9))
    assert outcome[:3] == ("refused", "InvoiceError", "too_many_rows") and outcome[5] == 0
    monkeypatch.setenv("CLOUDTALLY_INVOICE_MAX_CELLS", "100")
    outcome, _ = both_ways(store, _file(FOREIGN), limits=ImportLimits(chunk_rows=3))
    assert outcome[:3] == ("refused", "InvoiceError", "too_many_cells")


def test_currencies_refused_or_converted_the_same(store) -> None:
    usd = [
        r.replace(",CNY,", ",USD,").replace(",人民币,", ",USD,").replace(",￥,", ",USD,")
        for r in FOREIGN[:10]
    ]
    outcome, _ = both_ways(store, _file(usd))
    assert outcome[:3] == ("refused", "CurrencyRefused", "currency_refused")
    outcome, _ = both_ways(store, _file(usd), exchange_rate=D("7.1234"))
    assert outcome[0] == "imported" and outcome[1][6:8] == ("USD", D("7.1234"))
    mixed = [*FOREIGN[:6], *usd[6:]]
    outcome, _ = both_ways(
        store, _file(mixed), exchange_rate=D("7.1234"), limits=ImportLimits(chunk_rows=3)
    )
    assert outcome[:3] == ("refused", "InvoiceError", "mixed_currencies")


def test_period_instants_survive_both_readers(store) -> None:
    outcome, _ = both_ways(store, _file(FOREIGN[:3]))
    start = dt.datetime(2024, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=8))).astimezone(dt.UTC)
    assert outcome[1][3][0] == start
