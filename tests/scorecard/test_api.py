"""The scorecard API on both engines: roles, entries through the API, the three outputs."""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook

from cloudtally.api.auth import write_demo_tokens
from cloudtally.api.main import create_api
from cloudtally.settings import Settings
from cloudtally.store import Store
from tests.scorecard.zhongshan import POLICY, plant_round, plant_utilization, policy

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

CARD = "/api/v1/scorecards/2022/cetc/pool-1"


@pytest.fixture
def client(store: Store, tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, dict[str, str]]]]:
    plant_utilization(store, policy())
    plant_round(store)
    (tmp_path / "policy.yaml").write_text(POLICY, encoding="utf-8")
    tokens = write_demo_tokens(tmp_path / "tokens.yaml", ["edu"])
    settings = Settings(api_tokens_file=tmp_path / "tokens.yaml", data_dir=tmp_path,
                        policy_file=tmp_path / "policy.yaml")  # fmt: skip
    auth = {k: {"Authorization": f"Bearer {v}"} for k, v in tokens.items()}
    with TestClient(create_api(settings, lambda: store)) as c:
        yield c, auth


def test_bureau_gets_403_everywhere(client: Any) -> None:
    c, auth = client
    bureau = auth["bureau:edu"]
    for url in (
        CARD,
        f"{CARD}?format=html",
        "/api/v1/scorecards/2022",
        "/api/v1/scorecards/entries/2022",
        "/api/v1/scorecards/scheme?fiscal_year=2022",
    ):
        assert c.get(url, headers=bureau).status_code == 403, url
    body = {"fiscal_year": 2022, "indicator": "basis_sufficiency", "points": "2", "comment": "ok"}
    assert c.post("/api/v1/scorecards/entries", json=body, headers=bureau).status_code == 403
    assert c.post("/api/v1/scorecards/entries", json=body,
                  headers=auth["auditor"]).status_code == 403  # fmt: skip
    assert c.get(CARD, headers=auth["auditor"]).status_code == 200


def test_card_through_the_api(client: Any) -> None:
    c, auth = client
    admin = auth["admin"]
    entry = {
        "fiscal_year": 2022,
        "indicator": "budget_adjustment",
        "points": "1.5",
        "comment": "调整支付上年欠款，酌情扣1.5分",
        "provider": "cetc",
        "pool": "pool-1",
    }
    r = c.post("/api/v1/scorecards/entries", headers=admin, json=entry)
    assert r.status_code == 201 and r.json()["entered_by"] == "admin"
    too_many = {**entry, "points": "3.5", "provider": "", "pool": ""}
    bad = c.post("/api/v1/scorecards/entries", headers=admin, json=too_many)
    assert bad.status_code == 422 and "between 0 and 3" in bad.text
    nowhere = c.post("/api/v1/scorecards/entries", headers=admin,
                     json={**entry, "pool": "pool-9"})  # fmt: skip
    assert nowhere.status_code == 422 and "no pool cetc/pool-9" in nowhere.text
    r = c.post("/api/v1/scorecards/budget", headers=admin, json={
        "fiscal_year": 2022, "available": "58230000", "paid": "58230000",
        "reduced_to_other": "21450000", "comment": "财政拨付"})  # fmt: skip
    assert r.status_code == 201
    wb = Workbook()
    ws = wb.active
    ws.append(["问题", "非常满意", "比较满意", "一般", "不满意"])
    ws.append(["平台稳定性", "40%", "40%", "20%", "0%"])
    ws.append(["问题响应时效", "20%", "60%", "20%", "0%"])
    buf = io.BytesIO()
    wb.save(buf)
    r = c.post("/api/v1/scorecards/surveys?fiscal_year=2022&file_name=满意度.xlsx",
               content=buf.getvalue(), headers=admin)  # fmt: skip
    assert r.status_code == 201, r.text
    bad = c.post("/api/v1/scorecards/surveys?fiscal_year=2022&file_name=s.csv",
                 content="答案,数量\n很好,3\n".encode(), headers=admin)  # fmt: skip
    assert bad.status_code == 422 and "unknown answer" in bad.text

    doc = c.get(CARD, headers=admin).json()
    by = {i["code"]: i for i in doc["indicators"]}
    assert (by["pool_utilization"]["figure"], by["pool_utilization"]["points"]) == ("58.6", "0")
    assert by["cloud_storage_utilization"]["points"] == "8"
    assert by["unit_price_trend"]["points"] == "2"
    assert by["budget_execution"]["points"] == "2"
    adj = by["budget_adjustment"]
    assert (adj["status"], adj["rule_points"], adj["points"]) == ("adjusted", "0", "1.5")
    # two questions summed: (60 × 100 + 100 × 80 + 40 × 60) / 200 = 82 % → 22 / 30 × 6 = 4.4
    assert (by["satisfaction"]["figure"], by["satisfaction"]["points"]) == ("82", "4.4")
    assert by["basis_sufficiency"]["status"] == "missing" and not doc["complete"]
    assert doc["grade"] == "差" and doc["ledger_head"]

    html = c.get(f"{CARD}?format=html", headers=admin)
    assert html.status_code == 200 and "text/html" in html.headers["content-type"]
    assert "第一资源池云资源利用率" in html.text and "评价情况总表" in html.text
    assert 'rowspan="14"' in html.text  # 产出 spans its 14 indicators, as in the seed's table
    x = c.get(f"{CARD}?format=xlsx", headers=admin)
    sheet = load_workbook(io.BytesIO(x.content))["评分表"]
    rows = {r[11]: r for r in sheet.iter_rows(min_row=2, values_only=True)}
    assert rows["pool_utilization"][8] == 0 and rows["satisfaction"][8] == 4.4
    year = c.get("/api/v1/scorecards/2022", headers=admin).json()
    assert [(i["provider"], i["pool"]) for i in year["items"]] == [("cetc", "pool-1")]
    assert c.get("/api/v1/scorecards/2022/cetc/nope", headers=admin).status_code == 404
    listed = c.get("/api/v1/scorecards/entries/2022", headers=admin).json()
    assert [e["subject"] for e in listed["items"]] == ["budget_adjustment", "budget", "survey"]


def test_a_fiscal_year_out_of_range_is_a_422_not_a_500(client: Any) -> None:
    """Found by schemathesis: /scorecards/1 used to fail deep inside the calendar."""
    c, auth = client
    for url in ("/api/v1/scorecards/1", "/api/v1/scorecards/99999/cetc/pool-1"):
        r = c.get(url, headers=auth["admin"])
        assert r.status_code == 422, (url, r.status_code, r.text[:300])
