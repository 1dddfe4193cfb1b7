"""A fleet with VMs that change owner: vm-move goes edu → health → edu."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from cloudtally.store import Store

T0 = 1_767_196_800  # 2026-01-01T00:00:00+08:00 (local midnight: moves fall between days)
DAY = 86_400
MOVE_1 = T0 + 10 * DAY  # edu → health
MOVE_2 = T0 + 20 * DAY  # health → edu
MOVER = "vm-move"
STAYERS = {"vm-edu": "edu", "vm-health": "health"}
# the moving VM's owner per period, as the API must answer it
MOVER_PERIODS = [("edu", T0, MOVE_1), ("health", MOVE_1, MOVE_2), ("edu", MOVE_2, None)]


def _event(vm: str, ts: int, bureau: str, event: str = "created", vcpu: int = 4) -> dict:
    return dict(
        vm_id=vm,
        event_ts=ts,
        event=event,
        name=f"{vm}@{bureau}",
        bureau=bureau,
        system=f"{bureau}-sys",
        pool="pool-1",
        provider="provider-a",
        vcpu=vcpu,
        mem_gb=Decimal(8),
        disk_ids=["d0"],
        disk_size_gb=[Decimal(100)],
        disk_tiers=["standard"],
        version=1,
    )


def inventory_events() -> list[dict]:
    events = [_event(vm, T0, b) for vm, b in STAYERS.items()]
    events += [
        _event(MOVER, T0, "edu"),
        _event(MOVER, T0 + 5 * DAY, "edu", "updated", vcpu=8),
        _event(MOVER, MOVE_1, "health", "updated", vcpu=16),
        _event(MOVER, MOVE_2, "edu", "updated", vcpu=2),
    ]
    return events


def seed_moving_fleet(store: Store, *, hours: int = 30 * 24, step: int = 3600) -> None:
    """Inventory with the moves, and one sample every ``step`` s for every VM over ``hours``."""
    events = inventory_events()
    store.insert("vm_inventory", {k: [e[k] for e in events] for k in events[0]})
    vms = [*STAYERS, MOVER]
    ts = T0 + step * np.arange(hours * 3600 // step)
    n = len(ts)
    store.insert(
        "samples",
        {
            "vm_id": np.repeat(np.array(vms, dtype=object), n),
            "ts": np.tile(ts, len(vms)),
            "cpu_pct": np.full(n * len(vms), 12.5, dtype=np.float32),
            "mem_pct": np.full(n * len(vms), 40.0, dtype=np.float32),
            "source": np.full(n * len(vms), "test", dtype=object),
            "version": np.ones(n * len(vms), dtype=np.uint64),
        },
    )


@contextlib.contextmanager
def owners_api(store: Store, tmp_path: Path) -> Iterator[tuple[Any, dict[str, str]]]:
    """A TestClient over ``store`` with the API fleet's policy and tokens for both owners."""
    from cloudtally.api.auth import write_demo_tokens
    from cloudtally.api.main import create_api
    from cloudtally.settings import Settings
    from tests.api.fleet import policy_text

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    (tmp_path / "policy.yaml").write_text(policy_text(), encoding="utf-8")
    tokens = write_demo_tokens(tmp_path / "tokens.yaml", ["edu", "health"])
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        api_tokens_file=tmp_path / "tokens.yaml",
        data_dir=tmp_path,
        policy_file=tmp_path / "policy.yaml",
    )
    with TestClient(create_api(settings, lambda: store)) as client:
        yield client, tokens
