"""Probes: liveness always, readiness only on a fully migrated store, and never a write."""

from __future__ import annotations

import uuid
import warnings

from cloudtally.api.main import create_api
from cloudtally.settings import Settings
from cloudtally.store import open_store
from cloudtally.store.migrate import available, migrate

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


def test_readiness_waits_for_migrations_and_does_not_write(chdb_url: str) -> None:
    db = f"t_{uuid.uuid4().hex[:12]}"
    store = open_store(chdb_url, database=db)
    try:
        client = TestClient(create_api(Settings(_env_file=None), lambda: store))
        assert client.get("/healthz").json() == {"status": "ok"}
        r = client.get("/readyz")
        assert r.status_code == 503
        assert r.json()["pending"] == [m.version for m in available()]
        assert (
            store.scalar(  # the probe created nothing
                "SELECT count() FROM system.tables WHERE database = %(db)s", {"db": db}
            )
            == 0
        )
        migrate(store)
        r = client.get("/readyz")
        assert r.status_code == 200 and r.json()["migrations"] == len(available())
    finally:
        store.execute(f"DROP DATABASE IF EXISTS {db}")
        store.close()
