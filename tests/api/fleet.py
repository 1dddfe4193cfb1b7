"""A planted two-bureau fleet, rolled up and rated, behind an API client (utilization and
billing API tests).

Seeded once per engine and test module (module-scoped fixture on a database of
its own) because rollups and rating of two weeks take a few seconds.

Fleet, 2023-10-09 .. 2023-10-23 (14 local days, 5-minute samples), 8 vCPU / 16 GB
and a 100 GB standard disk each:

==================  =======  ===================  ===========================================
VM                  bureau   provider / pool      profile
==================  =======  ===================  ===========================================
edu-idle            edu      provider-a / pool-1  cpu 2 %, mem 3 %        → idle, rightsizing
edu-busy            edu      provider-a / pool-1  cpu 45 %, mem 60 %      → nothing
health-idle         health   provider-b / pool-3  cpu 1 %, mem 2 %        → idle, rightsizing
health-nightbatch   health   provider-b / pool-3  2 % by day, 15 % nights → night-heavy
health-oversized    health   provider-b / pool-3  cpu 10 %, mem 12 %      → rightsizing
edu-cold            edu      provider-a / pool-2  Aug–Sep only, 500 GB archive disk 2 % used
==================  =======  ===================  ===========================================

Policy: the packaged example with 5-minute expected samples and provider-a's
volume tier lowered to 10 CNY (so a tier line exists).
"""

from __future__ import annotations

import datetime as dt
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cloudtally.analytics.rollups import hours_of_days, recompute_days, recompute_hours
from cloudtally.api.auth import write_demo_tokens
from cloudtally.api.main import create_api
from cloudtally.billing.rate import rate_period
from cloudtally.core.policy import Policy, load_policy
from cloudtally.policy import example_policy_text
from cloudtally.settings import Settings
from cloudtally.store import Store, open_store
from cloudtally.store.migrate import migrate
from tests.analytics.plant import disk_samples, epoch, inventory, profile, samples

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

TZ = "Asia/Shanghai"
SH = dt.timezone(dt.timedelta(hours=8))
D0, D1 = dt.date(2023, 10, 9), dt.date(2023, 10, 23)
OCT = dt.date(2023, 10, 1)


def business(h: np.ndarray) -> np.ndarray:
    return ((h >= 9) & (h < 12)) | ((h >= 14) & (h < 18))


def night(h: np.ndarray) -> np.ndarray:
    return (h < 6) | (h >= 22)


def const(v: float) -> Any:
    return lambda h: np.full(h.shape, v)


# vm_id -> (bureau, provider, pool, cpu by local hour, mem by local hour)
FLEET: dict[str, tuple[str, str, str, Any, Any]] = {
    "edu-idle": ("edu", "provider-a", "pool-1", const(2.0), const(3.0)),
    "edu-busy": ("edu", "provider-a", "pool-1", const(45.0), const(60.0)),
    "health-idle": ("health", "provider-b", "pool-3", const(1.0), const(2.0)),
    "health-nightbatch": (
        "health",
        "provider-b",
        "pool-3",
        lambda h: np.where(business(h), 2.0, np.where(night(h), 15.0, 4.0)),
        const(10.0),
    ),
    "health-oversized": ("health", "provider-b", "pool-3", const(10.0), const(12.0)),
}
BUREAU_VMS = {
    "edu": ["edu-busy", "edu-cold", "edu-idle"],
    "health": ["health-idle", "health-nightbatch", "health-oversized"],
}


def policy_text() -> str:
    text = example_policy_text()
    text = text.replace("utilization: {}", "utilization: {expected_sample_interval_s: 300}")
    return text.replace("{above: 3000000.00, cut: 0.02}", "{above: 10.00, cut: 0.02}")


def policy() -> Policy:
    return load_policy(policy_text())


def plant(store: Store, pol: Policy) -> None:
    version = pol.version_at(dt.datetime(2023, 10, 9, tzinfo=SH))
    util, cal = version.utilization, version.calendar
    h0, h1 = hours_of_days(D0, D1, TZ)
    for vm_id, (bureau, provider, pool, cpu_f, mem_f) in FLEET.items():
        inventory(
            store, vm_id, epoch(2023, 9, 1), bureau=bureau, system=f"{bureau}-sys",
            pool=pool, provider=provider, vcpu=8, mem_gb="16",
            disks=[(f"{vm_id}-d", "100", "standard")],
        )  # fmt: skip
        ts, cpu = profile(h0, h1, 300, cpu_f)
        _, mem = profile(h0, h1, 300, mem_f)
        samples(store, vm_id, ts, cpu, mem)
    recompute_hours(store, list(FLEET), h0, h1, cal, util)
    recompute_days(store, list(FLEET), D0, D1, cal, util)
    # edu-cold: an archive disk 2 % used through August and September (storage-idle).
    a0, a1 = dt.date(2023, 8, 1), dt.date(2023, 10, 1)
    c0, c1 = hours_of_days(a0, a1, TZ)
    inventory(
        store, "edu-cold", c0 - 86400, bureau="edu", system="edu-sys", pool="pool-2",
        provider="provider-a", vcpu=2, mem_gb="4", disks=[("cold", "500", "archive")],
    )  # fmt: skip
    disk_samples(store, "edu-cold", "cold", np.arange(c0, c1, 86400) + 3 * 3600, 10.0)
    recompute_hours(store, ["edu-cold"], c0, c1, cal, util)
    recompute_days(store, ["edu-cold"], a0, a1, cal, util)
    rate_period(
        store, pol, dt.datetime(2023, 10, 9, tzinfo=SH), dt.datetime(2023, 10, 23, tzinfo=SH)
    )


class Api:
    """A TestClient over the seeded store plus the tokens of every role."""

    def __init__(self, client: TestClient, tokens: dict[str, str], store: Store, pol: Policy):
        self.client, self.tokens, self.store, self.policy = client, tokens, store, pol

    def get(self, url: str, role: str = "admin", **params: Any) -> Any:
        return self.client.get(url, params=params, headers=self.auth(role))

    def post(self, url: str, body: dict[str, Any], role: str = "admin") -> Any:
        return self.client.post(url, json=body, headers=self.auth(role))

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


@pytest.fixture(scope="module", params=["chdb", pytest.param("server", marks=pytest.mark.server)])
def seeded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Api]:
    """The planted fleet, rolled up and rated, on a database of this module's own."""
    database = f"t_api_{uuid.uuid4().hex[:10]}"
    if request.param == "chdb":
        url = request.getfixturevalue("chdb_url")
    else:
        url = f"{request.getfixturevalue('clickhouse_server').url}/{database}"
    store = open_store(url, database=database)
    tmp = tmp_path_factory.mktemp("api")
    try:
        migrate(store)
        pol = policy()
        plant(store, pol)
        policy_file = Path(tmp / "policy.yaml")
        policy_file.write_text(policy_text(), encoding="utf-8")
        tokens = write_demo_tokens(tmp / "tokens.yaml", list(BUREAU_VMS))
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            api_tokens_file=tmp / "tokens.yaml",
            data_dir=tmp,
            policy_file=policy_file,
        )
        with TestClient(create_api(settings, lambda: store)) as client:
            yield Api(client, tokens, store, pol)
    finally:
        try:
            store.execute(f"DROP DATABASE IF EXISTS {database}")
        finally:
            store.close()
