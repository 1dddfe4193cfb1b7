"""What leaves the system in Chinese has no English in it: the verification report (HTML),
the findings CSV/XLSX and the statement export, rendered in zh from a real verification on
the real stores; and the API tells its errors and findings in the language asked for.

"English" = three or more English words in a row (tests/i18n/english.py). Field values the
reader needs as written are single tokens (VM ids, rule codes, units); the evidence column is
data (JSON with field names as keys) and is left out."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from openpyxl import load_workbook

from cloudtally.core.verification import VerificationPolicy
from cloudtally.invoices import report
from cloudtally.invoices import store as inv_store
from cloudtally.invoices.generator import (
    ALL_ERRORS,
    generate_invoice,
    render_provider_csv,
    seed_metering,
    simulate_fleet,
)
from cloudtally.invoices.importer import import_invoice
from cloudtally.invoices.service import verify_invoice
from tests.api.conftest import auth, serve_two_bureaus
from tests.i18n.english import english_sentences


@pytest.fixture
def verified(store, tmp_path):
    exp, vms = simulate_fleet(seed=7, vms=40, gap_share=0.3, low_util_share=0.4)
    seed_metering(store, exp, vms)
    lines, planted = generate_invoice(exp, vms, errors=list(ALL_ERRORS), bill_unmetered_hours=False)
    f = tmp_path / "invoice.csv"
    f.write_bytes(render_provider_csv(lines, encoding="gb18030"))
    res = import_invoice(store, f, provider="provider-a")
    verify_invoice(store, res.invoice_id, policy=VerificationPolicy(bill_unmetered_hours=False))
    return store, res.invoice_id, {p.rule_id for p in planted}


def _no_english(cells: list[str]) -> None:
    found = [(c, english_sentences(c)) for c in cells if english_sentences(c)]
    assert not found, found[:5]


def test_findings_exports_and_report_in_chinese_have_no_english(verified):
    store, invoice_id, rules = verified
    rows = inv_store.findings(store, invoice_id)
    summary = inv_store.summary(store, invoice_id)
    assert {r["rule_id"] for r in rows} >= rules  # every planted rule is in the export

    table = list(csv.reader(io.StringIO(report.findings_csv(rows, zh=True).decode("utf-8-sig"))))
    ev = table[0].index("证据")
    _no_english([c for row in table for i, c in enumerate(row) if i != ev])
    assert table[0][:2] == ["序号", "规则"]

    wb = load_workbook(io.BytesIO(report.findings_xlsx(rows, summary, zh=True)))
    assert wb.sheetnames == ["汇总", "问题明细"]
    cells = [str(v) for ws in wb for r in ws.iter_rows(values_only=True) for v in r if v]
    _no_english([c for c in cells if not c.startswith("{")])  # evidence JSON cells aside

    page = report.html_report(summary, rows, zh=True)
    body = page.split("</style>", 1)[1]
    import re

    text = re.sub(r"<td class='ev'>.*?</td>", "", body)  # the evidence cells
    text = re.sub(r"<[^>]+>", " ", text)
    _no_english([text])
    assert "账单核验报告" in page and "多收" in page

    # and the same report in English says it in English
    en = report.html_report(summary, rows, zh=False)
    assert "Independent verification of a cloud invoice" in en


@pytest.fixture
def api(store, tmp_path: Path) -> Iterator:
    yield from serve_two_bureaus(store, tmp_path)


def test_api_errors_and_findings_speak_the_language_asked_for(api, verified):
    client, tokens = api
    _, invoice_id, _ = verified
    assert client.get("/api/v1/vms").json()["detail"] == "missing bearer token"
    zh = client.get("/api/v1/vms", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert zh.status_code == 401 and zh.json()["detail"] == "缺少访问令牌（Bearer）"
    admin = auth(tokens["admin"])
    r = client.get("/api/v1/vms/nope", params={"lang": "zh"}, headers=admin)
    assert r.status_code == 404 and r.json()["detail"] == "没有虚拟机「nope」"
    assert client.get("/api/v1/vms/nope", headers=admin).json()["detail"] == "no VM 'nope'"

    en = client.get(f"/api/v1/invoices/{invoice_id}/findings", headers=admin).json()["items"]
    cn = client.get(
        f"/api/v1/invoices/{invoice_id}/findings", params={"lang": "zh"}, headers=admin
    ).json()["items"]
    assert [f["rule_id"] for f in en] == [f["rule_id"] for f in cn]
    assert all(e["message"] != c["message"] for e, c in zip(en, cn, strict=True))
    assert any(e["message"].startswith("billed ") for e in en)
    _no_english([f["message"] for f in cn])
    # exports default to Chinese: the CSV headers are Chinese without lang=
    r = client.get(f"/api/v1/invoices/{invoice_id}/findings", params={"format": "csv"},
                   headers=admin)  # fmt: skip
    assert r.content.decode("utf-8-sig").startswith("序号,规则")
