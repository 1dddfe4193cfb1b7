"""Invoice upload, verification and results through the HTTP API, on both engines.

A simulated fleet of two bureaus ('edu', 'health') is rated into bill lines
(the invoice store tests' ``seed_metering``); the generator writes a clean FOCUS
invoice and a provider CSV with planted errors; both go through the upload job.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import time
from decimal import Decimal
from typing import Any

from cloudtally.invoices.generator import (
    ALL_ERRORS,
    generate_invoice,
    render_focus_csv,
    render_provider_csv,
    seed_metering,
    simulate_fleet,
)
from tests.api.conftest import auth
from tests.invoices.test_store import PROVIDER

BUREAU_NAMES = {"bureau-000": "edu", "bureau-001": "health"}


def fleet(store: Any, seed: int = 21, vms: int = 24) -> tuple[list[Any], dict[str, Any]]:
    """Expected charges and lifecycles of a rated fleet owned by 'edu' and 'health'."""
    exp, lifecycle = simulate_fleet(
        seed=seed, vms=vms, bureaus=2, gap_share=0.3, low_util_share=0.4
    )
    exp = [dataclasses.replace(e, bureau=BUREAU_NAMES[e.bureau]) for e in exp]
    lifecycle = {
        k: dataclasses.replace(v, bureau=BUREAU_NAMES[v.bureau]) for k, v in lifecycle.items()
    }
    seed_metering(store, exp, lifecycle)
    return exp, lifecycle


def upload(client: Any, token: str, data: bytes, name: str, **form: str) -> Any:
    return client.post(
        "/api/v1/invoices/imports",
        files={"file": (name, data, "application/octet-stream")},
        data={"provider": PROVIDER, **form},
        headers=auth(token),
    )


def wait(client: Any, token: str, accepted: Any) -> dict[str, Any]:
    assert accepted.status_code == 202, accepted.text
    url = accepted.headers["Location"]
    assert (
        url == accepted.json()["status_url"] == f"/api/v1/invoices/jobs/{accepted.json()['job_id']}"
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job = client.get(url, headers=auth(token)).json()
        if job["state"] in ("done", "failed"):
            return job  # type: ignore[no-any-return]
        time.sleep(0.05)
    raise AssertionError(f"job did not finish: {job}")


def all_findings(client: Any, token: str, invoice_id: str, **params: Any) -> list[dict]:
    r = client.get(
        f"/api/v1/invoices/{invoice_id}/findings",
        params={"limit": 10_000, **params},
        headers=auth(token),
    )
    assert r.status_code == 200, r.text
    return r.json()["items"]  # type: ignore[no-any-return]


def key(f: dict[str, Any]) -> tuple[str, tuple[int, ...], Decimal]:
    return f["rule_id"], tuple(f["line_numbers"]), Decimal(f["amount_at_stake"])


def test_clean_and_planted_invoices_through_the_api(api, store) -> None:
    client, tokens = api
    admin = tokens["admin"]
    exp, lifecycle = fleet(store)
    period = (exp[0].period_start, exp[0].period_end)

    # clean FOCUS invoice: zero findings, verified = billed
    clean, _ = generate_invoice(exp, lifecycle, form="focus")
    data = render_focus_csv(clean, provider=PROVIDER, billing_period=period)
    job = wait(client, admin, upload(client, admin, data, "focus.csv", format="focus"))
    assert job["state"] == "done" and not job["duplicate"], job
    assert job["message"] == "imported and verified" and job["kind"] == "import"
    assert job["progress"] == 1 and job["rows"] == len(clean) and job["errors"] == []
    clean_id = job["invoice_id"]
    assert job["result"]["verification"]["findings"] == 0
    s = client.get(f"/api/v1/invoices/{clean_id}", headers=auth(admin)).json()
    billed = sum(e.expected_amount for e in exp)
    assert Decimal(s["billed_total"]) == Decimal(s["verified_total"]) == billed
    assert s["over_total"] == s["under_total"] == "0.00" and s["by_reason"] == []
    body = client.get(f"/api/v1/invoices/{clean_id}/findings", headers=auth(admin)).json()
    assert body["total"] == 0 and body["items"] == []

    # planted errors: exactly those findings, with exact amounts, through the API
    lines, planted = generate_invoice(exp, lifecycle, errors=[e for e in ALL_ERRORS if e != "R3"])
    assert len(planted) >= 10
    data = render_provider_csv(lines, encoding="gb18030")
    job = wait(client, admin, upload(client, admin, data, "发票.csv"))
    assert job["state"] == "done", job
    inv = job["invoice_id"]
    assert inv != clean_id and job["result"]["verification"]["findings"] == len(planted)
    got = all_findings(client, admin, inv)
    assert sorted(map(key, got)) == sorted(
        (p.rule_id, p.line_numbers, p.amount_at_stake) for p in planted
    )
    page = client.get(
        f"/api/v1/invoices/{inv}/findings", params={"limit": 3, "offset": 3}, headers=auth(admin)
    ).json()
    assert page["total"] == len(planted) and [f["seq"] for f in page["items"]] == [4, 5, 6]
    assert Decimal(page["amount_total"]) == sum(p.amount_at_stake for p in planted)
    q1 = all_findings(client, admin, inv, rule="Q1")
    assert [key(f) for f in q1] == [key(f) for f in got if f["rule_id"] == "Q1"]
    assert q1[0]["evidence"]["metered_quantity"]
    assert (
        client.get(
            f"/api/v1/invoices/{inv}/findings", params={"rule": "ZZ"}, headers=auth(admin)
        ).status_code
        == 422
    )

    s = client.get(f"/api/v1/invoices/{inv}", headers=auth(admin)).json()
    total = sum(ln.amount for ln in lines)
    stakes = sum(p.amount_at_stake for p in planted)
    assert Decimal(s["billed_total"]) == total == Decimal(s["invoice"]["billed_total"])
    assert Decimal(s["verified_total"]) == total - stakes
    assert {r["rule_id"] for r in s["by_reason"]} == {p.rule_id for p in planted}
    assert {g["bureau"] for g in s["by_group"]} >= {"edu", "health"}
    listed = client.get("/api/v1/invoices", headers=auth(admin)).json()
    assert listed["total"] == 2 and {i["invoice_id"] for i in listed["items"]} == {inv, clean_id}

    # exports parse back
    r = client.get(
        f"/api/v1/invoices/{inv}/findings",
        params={"format": "csv", "lang": "en"},
        headers=auth(admin),
    )
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert sorted((x["Rule"], Decimal(x["Amount at stake (CNY)"])) for x in rows) == sorted(
        (p.rule_id, p.amount_at_stake) for p in planted
    )
    from openpyxl import load_workbook

    r = client.get(
        f"/api/v1/invoices/{inv}/findings",
        params={"format": "xlsx", "lang": "zh"},
        headers=auth(admin),
    )
    wb = load_workbook(io.BytesIO(r.content))
    sheet = wb["问题明细"]
    assert sheet.max_row == len(planted) + 1 and sheet.cell(1, 2).value == "规则"
    r = client.get(
        f"/api/v1/invoices/{inv}/findings",
        params={"format": "html", "lang": "zh"},
        headers=auth(admin),
    )
    page_html = r.text
    assert r.headers["content-type"].startswith("text/html") and "账单核验报告" in page_html
    for figure in (total, total - stakes):
        assert format(figure, ",.2f") in page_html
    for p in planted:
        assert format(p.amount_at_stake, ",.2f") in page_html

    # bureau 'edu': its own findings, summary and lines only; no uploads, no 'health'
    edu = auth(tokens["bureau:edu"])
    mine = all_findings(client, tokens["bureau:edu"], inv)
    assert mine and sorted(map(key, mine)) == sorted(key(f) for f in got if f["bureau"] == "edu")
    scoped = client.get(f"/api/v1/invoices/{inv}", headers=edu).json()
    assert {g["bureau"] for g in scoped["by_group"]} == {"edu"} and "invoice" not in scoped
    assert Decimal(scoped["billed_total"]) == sum(
        Decimal(g["billed"]) for g in s["by_group"] if g["bureau"] == "edu"
    )
    assert Decimal(scoped["billed_total"]) < Decimal(s["billed_total"])
    edu_html = client.get(
        f"/api/v1/invoices/{inv}/findings", params={"format": "html"}, headers=edu
    ).text
    assert format(Decimal(scoped["billed_total"]), ",.2f") in edu_html
    edu_vms = {k for k, v in lifecycle.items() if v.bureau == "edu"}
    own_lines = client.get(
        f"/api/v1/invoices/{inv}/lines", params={"limit": 10_000}, headers=edu
    ).json()
    want = [ln.line_no for ln in lines if ln.resource_id in edu_vms]
    assert [ln["line_no"] for ln in own_lines["items"]] == want
    assert own_lines["totals"]["lines"] == len(want)
    assert "health" not in str(own_lines) and "health" not in str(mine) + str(scoped)
    every = client.get(
        f"/api/v1/invoices/{inv}/lines", params={"limit": 10_000}, headers=auth(admin)
    ).json()
    assert every["totals"]["lines"] == len(lines)
    assert Decimal(every["totals"]["amount"]) == total
    assert {ln["bureau"] for ln in every["items"]} >= {"edu", "health"}
    for path in (f"/{inv}", f"/{inv}/findings", f"/{inv}/lines", ""):
        url = f"/api/v1/invoices{path}"
        assert client.get(url, params={"bureau": "health"}, headers=edu).status_code == 403
    mine_listed = client.get("/api/v1/invoices", headers=edu).json()
    assert {i["invoice_id"] for i in mine_listed["items"]} == {inv, clean_id}
    assert all("file_name" not in i and i["bureau"] == "edu" for i in mine_listed["items"])
    assert upload(client, tokens["bureau:edu"], data, "x.csv").status_code == 403
    assert client.post(f"/api/v1/invoices/{inv}/verify", headers=edu).status_code == 403
    assert client.get(f"/api/v1/invoices/jobs/{job['job_id']}", headers=edu).status_code == 403

    # the same file again is recognised; nothing new lands
    again = wait(client, admin, upload(client, admin, data, "again.csv"))
    assert again["state"] == "done" and again["duplicate"] and again["invoice_id"] == inv
    assert store.scalar("SELECT count() FROM invoice_lines") == len(lines) + len(clean)

    # re-verify (admin)
    run = client.post(f"/api/v1/invoices/{inv}/verify", headers=auth(admin))
    assert run.status_code == 200 and run.json()["findings"] == len(planted)
    loose = client.post(
        f"/api/v1/invoices/{inv}/verify",
        json={"tolerances": {"money_abs": "1000000"}, "background": True},
        headers=auth(admin),
    )
    job = wait(client, admin, loose)
    assert job["kind"] == "verify" and job["state"] == "done", job
    assert 0 < job["result"]["findings"] < len(planted)  # the override reached the verifier
    auditor = auth(tokens["auditor"])
    assert len(all_findings(client, tokens["auditor"], inv)) == job["result"]["findings"]
    assert client.get(f"/api/v1/invoices/jobs/{job['job_id']}", headers=auditor).status_code == 200
    assert client.post(f"/api/v1/invoices/{inv}/verify", headers=auditor).status_code == 403
    assert client.post("/api/v1/invoices/nope/verify", headers=auth(admin)).status_code == 404
    assert client.get("/api/v1/invoices/jobs/nope", headers=auth(admin)).status_code == 404
    assert client.get("/api/v1/invoices/nope", headers=auth(admin)).status_code == 404


def test_malformed_uploads_fail_with_row_column_reason_and_nothing_lands(
    api, store, monkeypatch, tmp_path
) -> None:
    client, tokens = api
    admin = tokens["admin"]
    exp, lifecycle = simulate_fleet(seed=5, vms=6)
    lines, _ = generate_invoice(exp, lifecycle)
    text = render_provider_csv(lines).decode("utf-8-sig").splitlines()

    missing = "\n".join(
        ",".join(c for i, c in enumerate(row.split(",")) if i != 9) for row in text
    )  # the amount column (金额) dropped
    job = wait(client, admin, upload(client, admin, missing.encode(), "missing.csv"))
    assert job["state"] == "failed" and "missing columns" in job["message"]
    [error] = job["errors"]
    assert error["row"] == 1 and error["column"].split(" or ")[0] == "金额"
    assert error["reason"].startswith("missing column")

    text[4] = text[4].replace(text[4].split(",")[9], "12x.5")  # row 5's amount
    bad = "\n".join(text).encode()
    job = wait(client, admin, upload(client, admin, bad, "bad.csv"))
    assert job["state"] == "failed" and job["invoice_id"] is None
    assert [(e["row"], e["column"]) for e in job["errors"]] == [(5, "金额")]
    assert job["errors"][0]["reason"] and job["errors"][0]["value"] == "12x.5"

    assert store.scalar("SELECT count() FROM invoice_lines") == 0
    assert store.scalar("SELECT count() FROM invoices") == 0
    assert list((tmp_path / "invoice-uploads").iterdir()) == []  # uploads removed
    assert client.get("/api/v1/invoices", headers=auth(admin)).json()["total"] == 0

    monkeypatch.setenv("CLOUDTALLY_INVOICE_MAX_BYTES", "200")
    r = upload(client, admin, bad, "big.csv")
    assert r.status_code == 413 and "200 bytes" in r.json()["detail"]
    r = upload(client, admin, bad * (1 + (1 << 20) // len(bad)), "huge.csv")
    assert r.status_code == 413  # refused on Content-Length, before the body is read
    r = client.post(
        "/api/v1/invoices/imports", content=b"x" * 300, headers={
            **auth(admin), "content-type": "text/csv"}
    )  # fmt: skip
    assert r.status_code == 415
    monkeypatch.delenv("CLOUDTALLY_INVOICE_MAX_BYTES")
    r = client.post(
        "/api/v1/invoices/imports",
        files={"file": ("a.csv", bad, "text/csv")},
        data={"provider": PROVIDER, "format": "pdf"},
        headers=auth(admin),
    )
    assert r.status_code == 422 and "format" in r.json()["detail"]
    r = client.post("/api/v1/invoices/imports", files={"file": ("a.csv", bad)}, headers=auth(admin))
    assert r.status_code == 422 and "provider" in r.json()["detail"]
    r = upload(client, admin, bad, "a.csv", period="2024-13")
    assert r.status_code == 422 and "period" in r.json()["detail"]
    r = upload(client, admin, bad, "a.csv", exchange_rate="seven")
    assert r.status_code == 422 and "exchange_rate" in r.json()["detail"]
    usd = "\n".join(text).replace(",CNY,", ",USD,").replace("12x.5", "12.5").encode()
    job = wait(client, admin, upload(client, admin, usd, "usd.csv"))
    assert job["state"] == "failed" and "the invoice is in USD, not CNY" in job["message"]
    assert store.scalar("SELECT count() FROM invoice_lines") == 0


def test_xlsx_upload_without_verification(api, store) -> None:
    """Format from the file name; verify=false imports only; a bureau sees no summary yet."""
    from cloudtally.invoices.generator import render_provider_xlsx

    client, tokens = api
    admin = tokens["admin"]
    exp, lifecycle = fleet(store, seed=3, vms=4)
    lines, _ = generate_invoice(exp, lifecycle)
    r = upload(client, admin, render_provider_xlsx(lines), "账单.xlsx", verify="false")
    job = wait(client, admin, r)
    assert job["state"] == "done" and "verification" not in job["result"], job
    inv = job["invoice_id"]
    s = client.get(f"/api/v1/invoices/{inv}", headers=auth(admin)).json()
    assert s["status"] == "imported" and s["run_id"] is None
    assert Decimal(s["billed_total"]) == sum(ln.amount for ln in lines)
    assert s["invoice"]["source_format"] == "xlsx" and s["invoice"]["file_name"] == "账单.xlsx"
    edu = auth(tokens["bureau:edu"])
    assert client.get(f"/api/v1/invoices/{inv}", headers=edu).status_code == 404
    assert client.get("/api/v1/invoices", headers=edu).json()["total"] == 0
