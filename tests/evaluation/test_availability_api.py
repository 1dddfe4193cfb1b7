"""The availability API over the planted fleet: bureau scope by ownership over time,
fault upload through the bounded path, and the fault report."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cloudtally.api.auth import write_demo_tokens
from cloudtally.api.main import create_api
from cloudtally.settings import Settings
from cloudtally.store import Store
from tests.evaluation.fleet import DOWN, E, S, plant
from tests.evaluation.test_fault_reports import write_xlsx

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


@pytest.fixture
def client(store: Store, tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    plant(store)
    tokens_file = tmp_path / "tokens.yaml"
    tokens = write_demo_tokens(tokens_file, ["edu", "health"])
    settings = Settings(api_tokens_file=tokens_file, data_dir=tmp_path)
    with TestClient(create_api(settings, lambda: store)) as c:
        yield c, tokens


def get(c: TestClient, token: str, url: str, **params: Any) -> Any:
    r = c.get(url, params=params, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    return r.json()


def test_bureau_sees_only_its_vms_for_the_time_it_owned_them(
    client: tuple[TestClient, dict[str, str]],
) -> None:
    c, tok = client
    edu = get(c, tok["bureau:edu"], "/api/v1/availability", **{"from": S, "to": E, "by": "vm"})
    assert {r["vm"] for r in edu["period"]} == {"vm-a", "vm-b", "vm-c"}
    edu_c = {(i["vm_id"], i["start"]) for i in edu["incidents"] if i["vm_id"] == "vm-c"}
    assert edu_c == {("vm-c", DOWN["vm-c"][0][0])}  # the one before the move only
    health = get(c, tok["bureau:health"], "/api/v1/availability", month="2023-04", by="vm")
    assert {i["vm_id"] for i in health["incidents"]} == {"vm-c"}
    r = c.get(
        "/api/v1/availability",
        params={"month": "2023-03", "bureau": "health"},
        headers={"Authorization": f"Bearer {tok['bureau:edu']}"},
    )
    assert r.status_code == 403
    whole = get(c, tok["auditor"], "/api/v1/availability", fiscal_year=2023, by="pool")
    pool1 = next(r for r in whole["period"] if r["pool"] == "pool-1")
    assert pool1["target"]["target_pct"] == "99.95" and pool1["target"]["met"] is False
    bad = c.get(
        "/api/v1/availability",
        params={"month": "2023-3"},
        headers={"Authorization": f"Bearer {tok['admin']}"},
    )
    assert bad.status_code == 422


def test_fault_upload_then_report(
    client: tuple[TestClient, dict[str, str]], tmp_path: Path
) -> None:
    c, tok = client
    path = tmp_path / "故障.xlsx"
    write_xlsx(path)

    def upload(token: str) -> Any:
        with path.open("rb") as f:
            return c.post(
                "/api/v1/availability/faults",
                files={"file": ("故障处理报告.xlsx", f)},
                data={"provider": "provider-a"},
                headers={"Authorization": f"Bearer {token}"},
            )

    r = upload(tok["admin"])
    assert r.status_code == 200, r.text
    assert (r.json()["imported"], r.json()["rejected"]) == (3, 4)
    assert upload(tok["bureau:edu"]).status_code == 403
    doc = get(c, tok["auditor"], "/api/v1/availability/faults", **{"from": S, "to": E})
    assert doc["summary"]["faults"] == 3 and doc["faults_without_metered_downtime"] == ["F-3"]
