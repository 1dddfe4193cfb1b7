"""An API client over a real store holding two bureaus' VMs, with tokens for each role."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from cloudtally.api.auth import write_demo_tokens
from cloudtally.api.main import create_api
from cloudtally.settings import Settings
from cloudtally.store import Store

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z
BUREAUS = {"edu": ["vm-edu-1", "vm-edu-2"], "health": ["vm-health-1"]}


def seed_two_bureaus(store: Store) -> None:
    rows: dict[str, list] = {
        k: []
        for k in (
            "vm_id",
            "event_ts",
            "event",
            "name",
            "bureau",
            "system",
            "pool",
            "provider",
            "vcpu",
            "mem_gb",
            "disk_ids",
            "disk_size_gb",
            "disk_tiers",
            "version",
        )
    }
    for bureau, vms in BUREAUS.items():
        for vm in vms:
            for k, v in dict(
                vm_id=vm,
                event_ts=T0,
                event="created",
                name=vm,
                bureau=bureau,
                system=f"{bureau}-sys",
                pool="A-1",
                provider="A",
                vcpu=4,
                mem_gb=Decimal(8),
                disk_ids=["d0"],
                disk_size_gb=[Decimal(100)],
                disk_tiers=["standard"],
                version=1,
            ).items():
                rows[k].append(v)
    store.insert("vm_inventory", rows)
    vms = [vm for vms in BUREAUS.values() for vm in vms]
    n = 60
    store.insert(
        "samples",
        {
            "vm_id": np.repeat(np.array(vms, dtype=object), n),
            "ts": np.tile(T0 + 60 * np.arange(n), len(vms)),
            "cpu_pct": np.full(n * len(vms), 12.5, dtype=np.float32),
            "mem_pct": np.full(n * len(vms), 40.0, dtype=np.float32),
            "source": np.full(n * len(vms), "test", dtype=object),
            "version": np.ones(n * len(vms), dtype=np.uint64),
        },
    )


@pytest.fixture
def api(store: Store, tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    yield from serve_two_bureaus(store, tmp_path)


def serve_two_bureaus(store: Store, tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    seed_two_bureaus(store)
    tokens_file = tmp_path / "tokens.yaml"
    tokens = write_demo_tokens(tokens_file, list(BUREAUS))
    settings = Settings(api_tokens_file=tokens_file, data_dir=tmp_path)
    with TestClient(create_api(settings, lambda: store)) as client:
        yield client, tokens


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
