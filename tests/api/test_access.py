"""Access is scoped: a bureau sees only its own data through every route."""

from __future__ import annotations

import re

import pytest

from tests.api.conftest import BUREAUS, T0, auth

OTHER_VM = BUREAUS["health"][0]
OWN_VM = BUREAUS["edu"][0]


def test_requests_without_a_valid_token_are_refused(api) -> None:
    client, _ = api
    assert client.get("/api/v1/fleet").status_code == 401
    assert client.get("/api/v1/fleet", headers=auth("not-a-token")).status_code == 401
    assert client.get("/healthz").status_code == 200  # probes stay open
    assert client.get("/metrics").status_code == 401  # business figures: not public


def test_admin_sees_every_bureau(api) -> None:
    client, tokens = api
    body = client.get("/api/v1/vms", headers=auth(tokens["admin"])).json()
    assert body["total"] == 3
    assert {vm["bureau"] for vm in body["items"]} == {"edu", "health"}
    fleet = client.get("/api/v1/fleet", headers=auth(tokens["admin"])).json()
    assert fleet["vms"] == 3 and fleet["samples"] == 180


def test_bureau_sees_only_its_own(api) -> None:
    client, tokens = api
    h = auth(tokens["bureau:edu"])
    body = client.get("/api/v1/vms", headers=h).json()
    assert [vm["vm_id"] for vm in body["items"]] == BUREAUS["edu"]
    assert client.get("/api/v1/vms?bureau=health", headers=h).json()["total"] == 0
    fleet = client.get("/api/v1/fleet", headers=h).json()
    assert fleet["vms"] == 2 and fleet["samples"] == 120 and fleet["bureaus"] == 1
    assert client.get(f"/api/v1/vms/{OTHER_VM}", headers=h).status_code == 404
    assert client.get(f"/api/v1/vms/{OTHER_VM}/samples", headers=h).status_code == 404
    own = client.get(
        f"/api/v1/vms/{OWN_VM}/samples", params={"from": T0, "to": T0 + 3600}, headers=h
    ).json()
    assert own["count"] == 60


def test_pipeline_health_is_for_admins_and_auditors(api) -> None:
    client, tokens = api
    for route in ("/api/v1/ingest/dead-letters", "/api/v1/ingest/progress"):
        assert client.get(route, headers=auth(tokens["bureau:edu"])).status_code == 403
        assert client.get(route, headers=auth(tokens["auditor"])).status_code == 200


def _get_routes(app) -> list[str]:
    """Every GET route the API documents (new routes are walked automatically)."""
    return sorted(p for p, ops in app.openapi()["paths"].items() if "get" in ops)


def test_every_route_hides_other_bureaus(api) -> None:
    """Walk every GET route as bureau 'edu', aimed at bureau 'health''s data."""
    client, tokens = api
    h = auth(tokens["bureau:edu"])
    routes = _get_routes(client.app)
    assert routes, "no API routes found"
    for path in routes:
        url = re.sub(r"\{vm_id\}", OTHER_VM, path)
        url = re.sub(r"\{bureau\}", "health", url)
        url = re.sub(r"\{[a-z_]+\}", "x", url)
        r = client.get(url, params={"bureau": "health"}, headers=h)
        assert r.status_code in (200, 403, 404, 422), (url, r.status_code)
        if r.status_code == 200:
            text = r.text
            assert "health" not in text and OTHER_VM not in text, (url, text[:300])


@pytest.mark.parametrize("bad", ["yesterday", "2026-13-01"])
def test_bad_time_is_a_clear_422(api, bad: str) -> None:
    client, tokens = api
    r = client.get(
        f"/api/v1/vms/{OWN_VM}/samples", params={"from": bad}, headers=auth(tokens["admin"])
    )
    assert r.status_code == 422 and "from" in r.json()["detail"]
