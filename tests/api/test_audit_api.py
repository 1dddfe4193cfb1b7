"""Audit routes on the seeded fleet (both engines): ledger, verify, issued months with a
restatement, packs, and who may see what."""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from decimal import Decimal

from cloudtally.billing.rate import rate_period
from cloudtally.core.policy import load_policy
from tests.api import fleet
from tests.api.fleet import SH, Api

seeded = fleet.seeded  # the module-scoped seeded API fixture

A = "/api/v1/audit"
OCT = "2023-10"


def test_close_restate_and_verify_through_the_api(seeded: Api) -> None:
    r = seeded.post("/api/v1/billing/close-month", {"month": OCT})
    assert r.status_code == 200, r.text
    issued = seeded.get(f"{A}/months/{OCT}").json()
    assert issued["closed"] and issued["revision"] == 0 and not issued["pending_restatement"]
    st = seeded.get("/api/v1/billing/statements", month=OCT).json()
    assert st["issued"]["version"] == "issued revision 0"
    assert Decimal(st["issued"]["net"]) == Decimal(issued["net"])
    assert st["ledger_head"] == seeded.get(f"{A}/ledger", "auditor").json()["head"]

    # Re-closing without a reason is refused; restating with nothing changed too.
    again = seeded.post("/api/v1/billing/close-month", {"month": OCT})
    assert again.status_code in (409, 422), again.text
    same = seeded.post(f"{A}/restatements", {"month": OCT, "reason": "nothing changed"})
    assert same.status_code == 409

    # A re-rate under a changed tariff makes the live lines differ; a restatement issues it.
    text = fleet.policy_text().replace("vcpu_month: 30", "vcpu_month: 31")
    alt = load_policy(text)
    rate_period(seeded.store, alt, dt.datetime(2023, 10, 9, tzinfo=SH),
                dt.datetime(2023, 10, 23, tzinfo=SH), run_kind="rerate", reason="price fix",
                actor="admin")  # fmt: skip
    pending = seeded.get(f"{A}/months/{OCT}").json()
    assert pending["pending_restatement"] and pending["net"] == issued["net"]
    r = seeded.post(f"{A}/restatements", {"month": OCT, "reason": "catalog price corrected",
                                          "reference": "dispute-3"})  # fmt: skip
    assert r.status_code == 201, r.text
    after = r.json()
    assert after["revision"] == 1 and after["original"] == issued["net"]
    assert Decimal(after["net"]) == Decimal(after["original"]) + Decimal(
        after["corrections"][0]["amount"]
    )
    assert after["net"] == after["live"] and after["corrections"][0]["reference"] == "dispute-3"
    rep = seeded.get(f"{A}/verify", "auditor").json()
    assert rep["ok"], rep
    kinds = [e["kind"] for e in seeded.get(f"{A}/ledger", "admin", limit=100).json()["items"]]
    assert "month_closed" in kinds and "rerate" in kinds and kinds[-1] == "restatement"


def test_bureau_sees_its_own_issued_month_only(seeded: Api) -> None:
    own = seeded.get(f"{A}/months/{OCT}", "bureau:edu")
    assert own.status_code == 200 and own.json()["bureau"] == "edu"
    other = seeded.get(f"{A}/months/{OCT}", "bureau:edu", bureau="health")
    assert other.status_code == 403
    for url in (f"{A}/ledger", f"{A}/verify", f"{A}/packs?month={OCT}&bureau=edu"):
        assert seeded.get(url, "bureau:edu").status_code == 403
    assert seeded.post(f"{A}/restatements", {"month": OCT, "reason": "x" * 5},
                       "auditor").status_code == 403  # fmt: skip


def test_pack_download(seeded: Api) -> None:
    r = seeded.get(f"{A}/packs", "auditor", month=OCT, bureau="health")
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(r.content)).namelist()
    assert any(n.endswith("/verify_pack.py") for n in names)
    assert any(n.endswith("/manifest.json") for n in names)
    assert seeded.get(f"{A}/packs", "auditor", month=OCT).status_code == 422
