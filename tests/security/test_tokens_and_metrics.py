"""A broken tokens file never takes the API down; /metrics is for the scrape token only."""

from __future__ import annotations

import logging
import os
import time
import warnings
from pathlib import Path

import yaml

from cloudtally.api.auth import write_demo_tokens
from cloudtally.api.main import create_api
from cloudtally.settings import Settings
from cloudtally.store import Store

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


def _client(chdb_store: Store, tmp_path: Path, **kw: object) -> tuple[TestClient, dict[str, str]]:
    tokens = write_demo_tokens(tmp_path / "tokens.yaml", ["edu"])
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        api_tokens_file=tmp_path / "tokens.yaml",
        data_dir=tmp_path,
        **kw,  # type: ignore[arg-type]
    )
    return TestClient(create_api(settings, lambda: chdb_store)), tokens


def _touch_later(path: Path, text: str) -> None:
    """Rewrite with a later mtime (a reload is keyed on mtime and size)."""
    path.write_text(text)
    t = time.time() + 5
    os.utime(path, (t, t))


def test_a_syntax_error_keeps_the_last_valid_tokens(
    chdb_store: Store, tmp_path: Path, caplog
) -> None:
    client, tokens = _client(chdb_store, tmp_path)
    h = {"Authorization": f"Bearer {tokens['bureau:edu']}"}
    assert client.get("/api/v1/fleet", headers=h).status_code == 200
    good = (tmp_path / "tokens.yaml").read_text()
    with caplog.at_level(logging.ERROR, logger="cloudtally.api.auth"):
        _touch_later(tmp_path / "tokens.yaml", good + "\n  - {name: broken, role: [unclosed\n")
        assert client.get("/api/v1/fleet", headers=h).status_code == 200  # still served
    assert "TOKENS FILE NOT LOADED" in caplog.text and "last valid" in caplog.text
    ready = client.get("/readyz")
    assert ready.status_code == 200
    body = ready.json()
    assert body["tokens"]["valid"] is False and "tokens.yaml" in body["tokens"]["error"]
    assert "warning" in body
    admin = {"Authorization": f"Bearer {tokens['admin']}"}
    text = client.get("/metrics", headers=admin).text
    assert "cloudtally_tokens_file_valid 0.0" in text
    # a wrong entry (unknown role) is refused the same way
    doc = yaml.safe_load(good)
    doc["tokens"].append({"name": "x", "role": "root", "token": "x"})
    _touch_later(tmp_path / "tokens.yaml", yaml.safe_dump(doc))
    assert client.get("/api/v1/fleet", headers=h).status_code == 200
    assert "unknown role" in client.get("/readyz").json()["tokens"]["error"]
    # a correct file takes over again, and a token removed from it stops working
    doc["tokens"] = [t for t in doc["tokens"][:-1] if t["name"] != "bureau:edu"]
    _touch_later(tmp_path / "tokens.yaml", yaml.safe_dump(doc))
    assert client.get("/api/v1/fleet", headers=h).status_code == 401
    assert client.get("/readyz").json()["tokens"]["valid"] is True
    assert "cloudtally_tokens_file_valid 1.0" in client.get("/metrics", headers=admin).text


def test_no_valid_tokens_file_is_not_ready(chdb_store: Store, tmp_path: Path) -> None:
    (tmp_path / "tokens.yaml").write_text("tokens: [unclosed\n")
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        api_tokens_file=tmp_path / "tokens.yaml",
        data_dir=tmp_path,
    )
    client = TestClient(create_api(settings, lambda: chdb_store))
    r = client.get("/readyz")
    assert r.status_code == 503 and r.json()["status"] == "no valid tokens file"
    assert client.get("/api/v1/fleet", headers={"Authorization": "Bearer x"}).status_code == 401


def test_metrics_need_the_scrape_token_or_an_admin(chdb_store: Store, tmp_path: Path) -> None:
    (tmp_path / "scrape.token").write_text("scrape-me\n")
    client, tokens = _client(chdb_store, tmp_path, metrics_token_file=tmp_path / "scrape.token")
    assert client.get("/metrics").status_code == 401
    bureau = {"Authorization": f"Bearer {tokens['bureau:edu']}"}
    assert client.get("/metrics", headers=bureau).status_code == 401
    for token in ("scrape-me", tokens["admin"], tokens["auditor"]):
        r = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200 and "cloudtally_metrics_scrapes_refused_total" in r.text
