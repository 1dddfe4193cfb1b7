"""Every answer says nosniff; authenticated answers are never cached; HTML reports run no
script and fetch nothing."""

from __future__ import annotations

from cloudtally.api.headers import REPORT_CSP
from cloudtally.invoices.generator import generate_invoice, render_focus_csv
from tests.api.conftest import auth
from tests.api.test_invoices_api import fleet, upload, wait
from tests.invoices.test_store import PROVIDER


def test_security_headers(chdb_api, chdb_store) -> None:
    client, tokens = chdb_api
    admin = tokens["admin"]
    open_ = client.get("/healthz")
    assert open_.headers["x-content-type-options"] == "nosniff"
    assert "no-store" not in open_.headers.get("cache-control", "")
    for role in ("admin", "bureau:edu"):
        r = client.get("/api/v1/vms", headers=auth(tokens[role]))
        assert r.status_code == 200
        assert r.headers["cache-control"] == "no-store"
        assert r.headers["x-content-type-options"] == "nosniff"
    refused = client.get("/api/v1/vms", headers=auth("wrong"))
    assert refused.status_code == 401 and refused.headers["cache-control"] == "no-store"

    exp, lifecycle = fleet(chdb_store, vms=4)
    lines, _ = generate_invoice(exp, lifecycle, form="focus", errors=["P1"])
    data = render_focus_csv(lines, provider=PROVIDER, billing_period=(
        exp[0].period_start, exp[0].period_end))  # fmt: skip
    job = wait(client, admin, upload(client, admin, data, "f.csv", format="focus"))
    report = client.get(
        f"/api/v1/invoices/{job['invoice_id']}/findings",
        params={"format": "html"},
        headers=auth(admin),
    )
    assert report.status_code == 200 and report.headers["content-type"].startswith("text/html")
    assert report.headers["content-security-policy"] == REPORT_CSP
    assert "script-src" not in REPORT_CSP and "default-src 'none'" in REPORT_CSP
    assert report.headers["x-frame-options"] == "DENY"
    # the findings report is a conditional read (ETag, docs/api.md): kept, never shared
    assert report.headers["cache-control"] == "private, no-cache" and report.headers["etag"]
    csv = client.get(
        f"/api/v1/invoices/{job['invoice_id']}/lines", params={"format": "csv"}, headers=auth(admin)
    )
    assert csv.headers["x-content-type-options"] == "nosniff"
    assert "content-security-policy" not in csv.headers
