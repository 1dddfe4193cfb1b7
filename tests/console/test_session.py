"""Console sign-in: the signed session cookie, its CSRF rule, and the API accepting it."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from cloudtally.api.auth import write_demo_tokens
from cloudtally.api.main import create_api
from cloudtally.console import session as sess
from cloudtally.settings import Settings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


@pytest.fixture
def app(chdb_store: Any, tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str], Settings]]:
    tokens = write_demo_tokens(tmp_path / "tokens.yaml", ["edu"])
    settings = Settings(_env_file=None, api_tokens_file=tmp_path / "tokens.yaml",  # type: ignore[call-arg]
                        data_dir=tmp_path)  # fmt: skip
    with TestClient(create_api(settings, lambda: chdb_store)) as client:
        yield client, tokens, settings


def sign_in(client: TestClient, token: str) -> Any:
    return client.post("/console/login", data={"token": token, "next": "/console/rounds"},
                       follow_redirects=False)  # fmt: skip


def test_sign_in_sets_a_signed_cookie_without_the_token(app) -> None:
    client, tokens, _settings = app
    assert client.get("/", follow_redirects=False).headers["location"] == "/console/"
    r = client.get("/console/home", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/console/login")
    bad = sign_in(client, "not-a-token")
    assert bad.status_code == 303 and "error=1" in bad.headers["location"]
    assert sess.COOKIE not in client.cookies
    ok = sign_in(client, tokens["bureau:edu"])
    assert ok.status_code == 303 and ok.headers["location"] == "/console/rounds"
    cookie = client.cookies[sess.COOKIE]
    assert tokens["bureau:edu"] not in cookie
    set_cookie = ok.headers["set-cookie"].lower()
    assert "httponly" in set_cookie and "samesite=lax" in set_cookie
    assert client.get("/console/rounds").status_code == 200
    # the API takes the cookie as the same principal, with the same scope
    assert client.get("/api/v1/vms").status_code == 200
    assert client.get("/api/v1/billing/runs").status_code == 403  # bureau: not read-all


def test_forged_expired_and_revoked_sessions_are_signed_out(app, tmp_path) -> None:
    client, tokens, settings = app
    sign_in(client, tokens["admin"])
    good = client.cookies[sess.COOKIE]
    body, sig = good.rsplit(".", 1)
    forged = sess._b64(sess._unb64(body).replace(b'"exp":', b'"exp":9'))
    for value in (f"{forged}.{sig}", f"{body}.{sig[:-2]}AA", "garbage"):
        client.cookies.set(sess.COOKIE, value)
        assert client.get("/console/home", follow_redirects=False).status_code == 303
    expired = sess.Session("token", sess.decode(settings, good).subject, 1, "x")  # type: ignore[union-attr]
    client.cookies.set(sess.COOKIE, sess.encode(settings, expired))
    assert client.get("/console/home", follow_redirects=False).status_code == 303
    client.cookies.set(sess.COOKIE, good)
    assert client.get("/console/rounds").status_code == 200
    # removing the token from the file ends its sessions at once
    path = tmp_path / "tokens.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["tokens"] = [t for t in doc["tokens"] if t["name"] != "admin"]
    path.write_text(yaml.safe_dump(doc))
    assert client.get("/console/rounds", follow_redirects=False).status_code == 303


def test_writes_need_the_csrf_header(app) -> None:
    client, tokens, settings = app
    sign_in(client, tokens["admin"])
    csrf = sess.decode(settings, client.cookies[sess.COOKIE]).csrf  # type: ignore[union-attr]
    form = {"review_from": "2023-10-01", "review_to": "2023-10-15"}
    refused = client.post("/console/rounds", data=form, follow_redirects=False)
    assert refused.status_code == 303  # no CSRF header: not signed in for a write
    assert client.post("/api/v1/billing/rate", json={}).status_code == 401
    r = client.post("/console/rounds", data=form, headers={sess.CSRF_HEADER: csrf})
    assert r.status_code == 204 and r.headers["HX-Redirect"].startswith("/console/rounds/R")
