"""ETag / If-None-Match and kept answers on an invoice's findings and summary (both
engines): 304 for the answer the client holds, one ETag per page, filter, format, role
and bureau, and a new ETag with the new run's findings (never a kept stale page) after
the invoice is verified again."""

from __future__ import annotations

from typing import Any

from cloudtally.invoices.generator import generate_invoice, render_provider_csv
from cloudtally.queries import parts
from tests.api.conftest import auth
from tests.api.test_freshness import _count_queries
from tests.api.test_invoices_api import fleet, upload, wait


def _get(client: Any, url: str, token: str, etag: str | None = None, **params: Any) -> Any:
    headers = auth(token) | ({"If-None-Match": etag} if etag else {})
    return client.get(url, params=params, headers=headers)


def test_findings_and_summary_are_etagged_until_a_new_run(api, store) -> None:
    client, tokens = api
    admin = tokens["admin"]
    exp, lifecycle = fleet(store)
    lines, planted = generate_invoice(exp, lifecycle, errors=["Q1", "U1", "R2", "B1", "D1"])
    job = wait(client, admin, upload(client, admin, render_provider_csv(lines), "a.csv"))
    assert job["state"] == "done", job
    inv = job["invoice_id"]
    url = f"/api/v1/invoices/{inv}/findings"
    asks = [
        (url, "admin", {"limit": 2}),
        (url, "admin", {"limit": 2, "offset": 2}),
        (url, "admin", {"rule": "Q1"}),
        (url, "admin", {"format": "csv"}),
        (url, "bureau:edu", {}),
        (url, "bureau:health", {}),
        (f"/api/v1/invoices/{inv}", "admin", {}),
        (f"/api/v1/invoices/{inv}", "bureau:edu", {}),
    ]
    tags = {}
    for u, role, params in asks:
        r = _get(client, u, tokens[role], **params)
        assert r.status_code == 200 and r.content, (u, role, params, r.text)
        etag = r.headers["etag"]
        assert r.headers["cache-control"] == "private, no-cache"
        again = _get(client, u, tokens[role], etag, **params)
        assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
        kept = _get(client, u, tokens[role], '"stale"', **params)
        assert kept.status_code == 200 and kept.content == r.content  # the kept answer, whole
        tags[(u, role, str(params))] = (etag, r)
    assert len({t for t, _ in tags.values()}) == len(asks)
    first = tags[(url, "admin", str({"limit": 2}))][1].json()
    assert first["total"] == len(planted) and [f["seq"] for f in first["items"]] == [1, 2]
    edu = tags[(url, "bureau:edu", "{}")][1].json()
    assert edu["items"] and {f["bureau"] for f in edu["items"]} == {"edu"}

    # verified again with loose tolerances: a new run, new ETags, the new run's findings
    loose = client.post(
        f"/api/v1/invoices/{inv}/verify",
        json={"tolerances": {"money_abs": "1000000"}},
        headers=auth(admin),
    )
    assert loose.status_code == 200, loose.text
    old_tag, old = tags[(url, "admin", str({"limit": 2}))]
    r = _get(client, url, admin, old_tag, limit=2)
    assert r.status_code == 200 and r.headers["etag"] != old_tag
    assert r.json()["run_id"] == loose.json()["run_id"] != old.json()["run_id"]
    assert r.json()["total"] == loose.json()["findings"] < len(planted)
    s_tag, _ = tags[(f"/api/v1/invoices/{inv}", "admin", "{}")]
    s = _get(client, f"/api/v1/invoices/{inv}", admin, s_tag)
    assert s.status_code == 200 and s.json()["run_id"] == loose.json()["run_id"]


def test_a_not_here_404_is_kept_in_the_callers_language(api, store, monkeypatch) -> None:
    """A bureau with no lines in the invoice gets its 404 from the kept answers the second
    time (no recomputation of its summary), with no ETag and in the language it asked."""
    client, tokens = api
    admin = tokens["admin"]
    exp, lifecycle = fleet(store)
    lines, _ = generate_invoice(exp, lifecycle, errors=["Q1"])
    job = wait(client, admin, upload(client, admin, render_provider_csv(lines), "a.csv"))
    url = f"/api/v1/invoices/{job['invoice_id']}/findings"
    answers = []
    for lang in ("en", "en", "zh", "zh"):
        r = client.get(
            url, params={"bureau": "nobody"}, headers=auth(admin) | {"Accept-Language": lang}
        )
        assert r.status_code == 404 and "etag" not in r.headers, r.headers
        assert r.headers["cache-control"] == "no-store"
        answers.append((r.headers.get("x-cloudtally-answer"), r.json()["detail"]))
    assert [a for a, _ in answers] == ["computed", "kept", "computed", "kept"]
    assert answers[0][1] == answers[1][1] and "nobody" in answers[0][1]
    assert answers[2][1] == answers[3][1] != answers[0][1] and "nobody" in answers[2][1]

    # Asked again, the kept 404 costs no store query (the fast path answers it) ...
    monkeypatch.setattr(parts, "REFRESH_S", 3600.0)
    seen = _count_queries(store, monkeypatch)
    again = client.get(
        url, params={"bureau": "nobody"}, headers=auth(admin) | {"Accept-Language": "zh"}
    )
    assert again.status_code == 404 and again.json()["detail"] == answers[2][1]
    assert again.headers["cache-control"] == "no-store" and "etag" not in again.headers
    assert seen == []
    monkeypatch.undo()
    # ... until the invoice changes: verified again, the bureau is asked of anew.
    assert (
        client.post(f"/api/v1/invoices/{job['invoice_id']}/verify", headers=auth(admin)).status_code
        == 200
    )
    r = client.get(
        url, params={"bureau": "nobody"}, headers=auth(admin) | {"Accept-Language": "zh"}
    )
    assert r.status_code == 404 and r.headers["x-cloudtally-answer"] == "computed"
