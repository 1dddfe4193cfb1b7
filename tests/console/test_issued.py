"""The bills page says which version its figures are: live before close, then the issued
revision with its total (the bureau's own for a bureau)."""

from __future__ import annotations

import re
from decimal import Decimal

from tests.api import fleet
from tests.api.fleet import Api

seeded = fleet.seeded


def _version(api: Api, role: str, lang: str = "zh") -> str:
    client = api.client
    client.cookies.clear()
    r = client.post("/console/login", data={"token": api.tokens[role], "next": "/console/"},
                    follow_redirects=False)  # fmt: skip
    assert r.status_code in (302, 303), r.text
    client.get(f"/console/lang/{lang}", follow_redirects=False)
    page = client.get("/console/bills?month=2023-10")
    assert page.status_code == 200
    found = re.search(r'data-testid="issued-version">(.*?)</p>', page.text, re.S)
    assert found, page.text[:3000]
    return found.group(1)


def test_bills_page_shows_live_then_the_issued_revision(seeded: Api) -> None:
    assert "尚未结账" in _version(seeded, "admin")
    assert seeded.post("/api/v1/billing/close-month", {"month": "2023-10"}).status_code == 200
    issued = seeded.client.get("/api/v1/audit/months/2023-10", headers=seeded.auth("admin"))
    net = issued.json()["net"]
    text = _version(seeded, "admin")
    assert "第 0 版" in text and f"{Decimal(net):,.2f}" in text and "待重述" not in text
    assert "revision 0" in _version(seeded, "admin", "en")
    # a bureau sees its own issued total, not the province's
    edu = seeded.client.get("/api/v1/audit/months/2023-10", headers=seeded.auth("bureau:edu"))
    assert f"{Decimal(edu.json()['net']):,.2f}" in _version(seeded, "bureau:edu")
