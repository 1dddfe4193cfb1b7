"""Billing API on the planted fleet rated with the example tariff (both engines): statement
totals equal the sum of lines to the fen, line derivations, CSV/XLSX exports with Chinese
headers, budget forecast, admin-only actions, what-if vs re-rate, bureau scope, 422s.

The tests share one seeded database per engine; the re-rate test changes the current
lines and runs last (it restores them at its end)."""

from __future__ import annotations

import csv
import io
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from openpyxl import load_workbook

from tests.api import fleet
from tests.api.fleet import Api
from tests.i18n.english import english_sentences

seeded = fleet.seeded  # the module-scoped seeded API fixture

B = "/api/v1/billing"
OCT = {"month": "2023-10"}
D = Decimal


def all_lines(api: Api, role: str = "admin", **params: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while True:
        page = api.get(f"{B}/lines", role, limit=100, offset=len(out), **OCT, **params).json()
        out += page["items"]
        if len(out) >= page["total"]:
            return out


def fen_sum(lines: list[dict[str, Any]], key: str = "after_cut") -> Decimal:
    return sum((D(x[key]) for x in lines), D("0.00"))


def read_csv(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))


def test_statement_totals_equal_the_sum_of_lines(seeded: Api) -> None:
    lines = all_lines(seeded)
    # 5 VMs × 14 days × (vCPU, memory, standard storage)
    assert len(lines) == 5 * 14 * 3
    for by in ("provider", "pool", "bureau", "system"):
        s = seeded.get(f"{B}/statements", by=by, **OCT).json()
        assert (s["title"], s["day_from"], s["day_to"]) == ("2023-10", "2023-10-01", "2023-11-01")
        assert D(s["lines_total"]) == fen_sum(lines)
        for row in s["rows"]:
            mine = [x for x in lines if x[by] == row[by]]
            assert D(row["after_cut"]) == fen_sum(mine) and row["lines"] == len(mine)
            assert D(row["list_amount"]) == fen_sum(mine, "list_amount")
    by_bureau = seeded.get(f"{B}/statements", by="bureau", **OCT).json()["rows"]
    assert [(r["bureau"], r["lines"]) for r in by_bureau] == [("edu", 84), ("health", 126)]
    page = seeded.get(f"{B}/lines", limit=7, **OCT).json()
    assert D(page["totals"]["after_cut"]) == fen_sum(lines) and page["total"] == 210


def test_line_derivation(seeded: Api) -> None:
    busy = all_lines(seeded, vm_id="edu-busy")
    assert len(busy) == 42 and {x["bureau"] for x in busy} == {"edu"}
    line = next(x for x in busy if x["day"] == "2023-10-10" and x["resource"] == "vcpu")
    # 8 vCPU × 24 h × 30 / 720 = 8.00 list; × 0.55 = 4.40; 45 % busy: no cut
    assert (line["tariff_version"], line["quantity"], line["unit"]) == (
        "2023.2",
        "192",
        "vCPU-hour",
    )
    assert (line["unit_price"], line["price_divisor"]) == ("30", 720)
    assert (line["list_amount"], line["after_discount"], line["after_cut"]) == (
        "8.00", "4.40", "4.40"
    )  # fmt: skip
    assert [a["rule"] for a in line["adjustments"]] == ["catalog", "tender_discount"]
    assert line["derivation"] == (
        "192 vCPU-hour × 30 / 720 = 8.00 list; × 0.55 tender discount = 4.40"
    )
    idle = all_lines(seeded, vm_id="edu-idle")
    cut = next(x for x in idle if x["day"] == "2023-10-10" and x["resource"] == "memory")
    # 16 GB × 24 h × 15 / 720 = 8.00; 4.40; daytime 3 % < 20 %: price cut 30 % → 3.08
    assert (cut["list_amount"], cut["after_discount"], cut["after_cut"]) == (
        "8.00", "4.40", "3.08"
    )  # fmt: skip
    assert cut["adjustments"][-1]["rule"] == "low_utilization"
    assert cut["utilization_basis"] == pytest.approx(3.0, abs=0.01)
    assert "price cut 0.30 = 3.08" in cut["derivation"] and "daytime_weighted" in cut["derivation"]


def test_month_close_adds_provider_tiers_for_the_buyer_only(seeded: Api) -> None:
    for role in ("auditor", "bureau:edu"):
        assert seeded.post(f"{B}/close-month", {"month": "2023-10"}, role).status_code == 403
    r = seeded.post(f"{B}/close-month", {"month": "2023-10"})
    assert r.status_code == 200
    tiers = {t["provider"]: t for t in r.json()["items"]}
    provider_a = fen_sum(all_lines(seeded, provider="provider-a"))
    # provider-a passed the (lowered) 10 CNY tier: whole fee cut 2 %, half-up to the fen
    expected = -(provider_a * D("0.02")).quantize(D("0.01"), rounding=ROUND_HALF_UP)
    assert D(tiers["provider-a"]["amount"]) == expected and expected < 0
    s = seeded.get(f"{B}/statements", by="provider", **OCT).json()
    assert [(a["provider"], a["kind"], a["status"]) for a in s["adjustments"]] == [
        ("provider-a", "volume_tier", "final")
    ]
    assert D(s["total"]) == D(s["lines_total"]) + expected == fen_sum(all_lines(seeded)) + expected
    own = seeded.get(f"{B}/statements", "bureau:edu", by="provider", **OCT).json()
    assert own["adjustments"] == [] and own["bureau"] == "edu"
    assert D(own["total"]) == fen_sum(all_lines(seeded, bureau="edu"))


def test_statement_exports_parse_back(seeded: Api) -> None:
    s = seeded.get(f"{B}/statements", by="bureau", **OCT).json()
    r = seeded.get(f"{B}/statements", by="bureau", format="csv", lang="zh", **OCT)
    assert r.status_code == 200 and r.content.startswith(b"\xef\xbb\xbf")
    rows = read_csv(r.text)
    assert rows[0] == ["使用单位", "明细条数", "目录价金额", "折扣后金额", "调整后金额"]
    assert not [c for row in rows for c in row if english_sentences(c)]  # docs/i18n.md
    assert [(x[0], D(x[4])) for x in rows[1:3]] == [
        (x["bureau"], D(x["after_cut"])) for x in s["rows"]
    ]
    assert rows[-2][0] == "合计" and D(rows[-2][-1]) == D(s["total"])
    # The last row anchors the statement in the audit ledger (docs/audit.md).
    assert rows[-1][0] == "审计账本链头" and s["ledger_head"] in rows[-1][1]
    en = read_csv(seeded.get(f"{B}/statements", by="bureau", format="csv", lang="en", **OCT).text)
    assert en[0][0] == "bureau" and en[-2][0] == "TOTAL" and en[-1][0] == "LEDGER HEAD"
    x = seeded.get(f"{B}/statements", by="provider", format="xlsx", lang="zh", **OCT)
    assert x.headers["content-type"].startswith("application/vnd.openxmlformats")
    ws = load_workbook(io.BytesIO(x.content)).active
    sheet = [list(row) for row in ws.iter_rows(values_only=True)]
    assert sheet[0] == ["云服务商", "明细条数", "目录价金额", "折扣后金额", "调整后金额"]
    total_row = sheet[-2]
    assert sheet[-1][0] == "审计账本链头"
    prov = seeded.get(f"{B}/statements", by="provider", **OCT).json()
    assert total_row[0] == "合计" and D(str(total_row[-1])) == D(prov["total"])
    body = sheet[1 : 1 + len(prov["rows"])]
    assert sum(D(str(v[-1])) for v in body) == D(prov["lines_total"])
    # every bill line as XLSX: the money column sums back to the total, to the fen
    lx = seeded.get(f"{B}/lines", format="xlsx", lang="zh", limit=1000, **OCT)
    sheet = [
        list(row)
        for row in load_workbook(io.BytesIO(lx.content)).active.iter_rows(values_only=True)
    ]
    col = sheet[0].index("调整后金额")
    assert {"虚拟机", "使用单位", "资源池", "云服务商", "单价", "资费版本"} <= set(sheet[0])
    assert sum(D(str(r[col])) for r in sheet[1:]) == D(prov["lines_total"])
    lc = read_csv(
        seeded.get(f"{B}/lines", "bureau:health", format="csv", lang="en", limit=1000, **OCT).text
    )
    assert len(lc) == 1 + 126 and {r[lc[0].index("bureau")] for r in lc[1:]} == {"health"}


def test_budget_with_forecast(seeded: Api) -> None:
    out = seeded.get(f"{B}/budget", fiscal_year=2024).json()
    prog = next(i for i in out["items"] if i["scope"] == "programme")
    fy = seeded.get(f"{B}/statements", fiscal_year=2024).json()
    assert D(prog["accrued"]) == D(fy["total"]) and prog["budget"] == "132832600.00"
    # rated through 2023-10-22: day 22 of 366 (FY2024 runs 2023-10-01 .. 2024-09-30)
    assert (prog["days_elapsed"], prog["days_in_year"]) == (22, 366)
    expected = (D(prog["accrued"]) * 366 / 22).quantize(D("0.01"), rounding=ROUND_HALF_UP)
    assert D(prog["forecast"]) == expected
    assert D(prog["remaining"]) == D(prog["budget"]) - expected
    assert [i["scope"] for i in out["items"]] == ["programme", "edu", "health"]
    own = seeded.get(f"{B}/budget", "bureau:edu", fiscal_year=2024).json()
    assert [i["scope"] for i in own["items"]] == ["edu"]
    assert D(own["items"][0]["accrued"]) == fen_sum(all_lines(seeded, bureau="edu"))
    rows = read_csv(seeded.get(f"{B}/budget", format="csv", lang="zh", fiscal_year=2024).text)
    assert rows[0][:4] == ["范围", "财年", "预算", "已发生金额"] and len(rows) == 4


def test_bureau_sees_only_its_own(seeded: Api) -> None:
    for me, other in (("edu", "health"), ("health", "edu")):
        role = f"bureau:{me}"
        for url, params in [
            (f"{B}/statements", {"by": "bureau", **OCT}),
            (f"{B}/statements", {"by": "provider", **OCT}),
            (f"{B}/statements", {"by": "system", "fiscal_year": 2024}),
            (f"{B}/lines", OCT),
            (f"{B}/budget", {"fiscal_year": 2024}),
        ]:
            for fmt in ("json", "csv"):
                r = seeded.get(url, role, format=fmt, **params)
                assert r.status_code == 200 and other not in r.text, (url, r.text[:300])
            assert me in seeded.get(url, role, **params).text
            assert seeded.get(url, role, bureau=other, **params).status_code == 403
        assert {x["bureau"] for x in all_lines(seeded, role)} == {me}
        assert seeded.get(f"{B}/runs", role).status_code == 403


@pytest.mark.parametrize(
    ("path", "params", "needle"),
    [
        ("/statements", {"month": "2023-13"}, "month: expected YYYY-MM"),
        ("/statements", {"month": "2023-10", "fiscal_year": 2024}, "give one of"),
        ("/statements", {"by": "rack"}, "by"),
        ("/statements", {"format": "pdf"}, "format"),
        ("/statements", {"fiscal_year": 1999}, "fiscal_year"),
        ("/lines", {"day_from": "2023-10-01"}, "day_from and day_to go together"),
        ("/lines", {"limit": 10_001}, "limit"),
        ("/budget", {"fiscal_year": "next"}, "fiscal_year"),
    ],
)
def test_bad_parameters_are_a_clear_422(seeded: Api, path: str, params: dict, needle: str) -> None:
    r = seeded.get(f"{B}{path}", **params)
    assert r.status_code == 422, r.text
    assert needle in r.text


def test_bad_action_bodies_are_a_clear_422(seeded: Api) -> None:
    period = {"from": "2023-10-09", "to": "2023-10-23"}
    cases = [
        ("/rate", {"from": "yesterday", "to": "2023-10-23"}, "from"),
        ("/rate", {"from": "2023-10-23", "to": "2023-10-09"}, "to must be after from"),
        ("/rate", {**period, "rerate": True}, "reason"),
        ("/rate", {**period, "tariff_version": "1999.9", "reason": "x"}, "unknown '1999.9'"),
        ("/close-month", {"month": "October"}, "month: expected YYYY-MM"),
        ("/what-if", {**period, "policy_yaml": "name: x\nversions: []"}, "versions"),
        ("/what-if", {**period, "by": "rack"}, "by"),
    ]
    for path, body, needle in cases:
        r = seeded.post(f"{B}{path}", body)
        assert r.status_code == 422 and needle in r.text, (path, r.text)


def test_actions_are_admin_only(seeded: Api) -> None:
    period = {"from": "2023-10-09", "to": "2023-10-23", "reason": "x"}
    for role in ("auditor", "bureau:edu", "bureau:health"):
        for path in ("/rate", "/what-if"):
            assert seeded.post(f"{B}{path}", period, role).status_code == 403
    assert seeded.client.post(f"{B}/rate", json=period).status_code == 401


def test_what_if_then_rerate_under_the_older_tariff(seeded: Api) -> None:
    """What-if under tariff 2023.1 (one storage price before the tier split) and the same
    period re-rated under it agree per bureau; the what-if writes nothing."""
    before = seeded.get(f"{B}/statements", by="bureau", **OCT).json()
    period = {"from": "2023-10-09", "to": "2023-10-23"}
    r = seeded.post(f"{B}/what-if", {**period, "tariff_version": "2023.1", "reason": "storage"})
    assert r.status_code == 200
    wi = r.json()
    # 100 GB standard × 24 h a day, paid at 0.55 of list:
    #   pool-1 (edu):    2023.1 0.60/GB-month → 2.00 → 1.10; 2023.2 0.40 → 1.33 → 0.73: +0.37
    #   pool-3 (health): 2023.1 0.65 → 2.17 → 1.19;          2023.2 0.42 → 1.40 → 0.77: +0.42
    assert [(x["bureau"], x["difference"]) for x in wi["rows"]] == [
        ("edu", "10.36"),  # 2 VMs × 14 days × 0.37
        ("health", "17.64"),  # 3 VMs × 14 days × 0.42
    ]
    assert [x["live"] for x in wi["rows"]] == [x["after_cut"] for x in before["rows"]]
    assert wi["totals"]["difference"] == "28.00"
    assert seeded.get(f"{B}/statements", by="bureau", **OCT).json() == before  # nothing written
    same = seeded.post(f"{B}/what-if", {**period, "low_utilization_basis": "all_hours"}).json()
    assert [x["difference"] for x in same["rows"]] == ["0.00", "0.00"]  # still idle at night

    assert seeded.post(f"{B}/rate", {**period, "tariff_version": "2023.1"}).status_code == 422
    r = seeded.post(f"{B}/rate", {**period, "tariff_version": "2023.1", "reason": "audit 7"})
    assert r.status_code == 201
    run = r.json()
    assert run["kind"] == "rerate" and run["actor"] == "admin" and run["difference"] == "28.00"
    assert run["tariff_versions"] == ["2023.1"] and run["lines"] == 210
    diff = seeded.get(f"{B}/runs/{run['run_id']}/diff").json()
    assert [(x["bureau"], x["difference"]) for x in diff["rows"]] == [
        ("edu", "10.36"),
        ("health", "17.64"),
    ]
    own = seeded.get(f"{B}/runs/{run['run_id']}/diff", "bureau:health").json()
    assert [x["bureau"] for x in own["rows"]] == ["health"] and "edu" not in str(own)
    runs = seeded.get(f"{B}/runs", "auditor", kind="rerate").json()
    assert runs["items"][0]["run_id"] == run["run_id"]
    assert (runs["items"][0]["reason"], runs["items"][0]["actor"]) == ("audit 7", "admin")
    assert seeded.get(f"{B}/runs", "auditor", kind="whatif").json()["total"] == 2
    assert seeded.get(f"{B}/runs/nope/diff").status_code == 404
    # restore the lines in force (each day under its own version) for any later reader
    back = seeded.post(f"{B}/rate", {**period, "rerate": True, "reason": "restore"}).json()
    assert back["difference"] == "-28.00"
    after = seeded.get(f"{B}/statements", by="bureau", **OCT).json()
    assert after.pop("ledger_head") != before["ledger_head"]  # the re-rates are ledger entries
    assert after == {k: v for k, v in before.items() if k != "ledger_head"}
