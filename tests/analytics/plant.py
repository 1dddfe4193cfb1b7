"""Hand-built inventory and samples, inserted directly (no Kafka) for rollup tests."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from decimal import Decimal

import numpy as np

from cloudtally.store import Store

SH = dt.timezone(dt.timedelta(hours=8))


def epoch(y: int, m: int, d: int, h: int = 0, mi: int = 0, tz: dt.tzinfo = dt.UTC) -> int:
    return int(dt.datetime(y, m, d, h, mi, tzinfo=tz).timestamp())


def inventory(
    store: Store,
    vm_id: str,
    ts: int,
    *,
    event: str = "created",
    bureau: str = "B1",
    system: str = "S1",
    pool: str = "P1",
    provider: str = "X",
    vcpu: int = 8,
    mem_gb: str = "16",
    disks: Sequence[tuple[str, str, str]] = (),  # (disk_id, size_gb, tier)
    version: int = 1,
) -> None:
    store.insert(
        "vm_inventory",
        {
            "vm_id": [vm_id],
            "event_ts": [ts],
            "event": [event],
            "name": [vm_id],
            "bureau": [bureau],
            "system": [system],
            "pool": [pool],
            "provider": [provider],
            "vcpu": [vcpu],
            "mem_gb": [Decimal(mem_gb)],
            "disk_ids": [[d[0] for d in disks]],
            "disk_size_gb": [[Decimal(d[1]) for d in disks]],
            "disk_tiers": [[d[2] for d in disks]],
            "version": [version],
        },
    )


def samples(
    store: Store,
    vm_id: str,
    ts: np.ndarray,
    cpu: np.ndarray | float,
    mem: np.ndarray | float,
    version: int = 1,
) -> None:
    n = len(ts)
    store.insert(
        "samples",
        {
            "vm_id": [vm_id] * n,
            "ts": np.asarray(ts, dtype=np.int64),
            "cpu_pct": np.broadcast_to(np.asarray(cpu, dtype=np.float32), (n,)).copy(),
            "mem_pct": np.broadcast_to(np.asarray(mem, dtype=np.float32), (n,)).copy(),
            "source": ["test"] * n,
            "version": np.full(n, version, dtype=np.uint64),
        },
    )


def disk_samples(
    store: Store, vm_id: str, disk_id: str, ts: np.ndarray, used_gb: np.ndarray | float
) -> None:
    n = len(ts)
    store.insert(
        "disk_samples",
        {
            "vm_id": [vm_id] * n,
            "disk_id": [disk_id] * n,
            "ts": np.asarray(ts, dtype=np.int64),
            "used_gb": np.broadcast_to(np.asarray(used_gb, dtype=np.float64), (n,)).copy(),
            "source": ["test"] * n,
            "version": np.ones(n, dtype=np.uint64),
        },
    )


def profile(
    start: int, end: int, step: int, by_local_hour: Callable[[np.ndarray], np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Timestamps every ``step`` s in [start, end) and a value from the Shanghai hour."""
    ts = np.arange(start, end, step, dtype=np.int64)
    local_hour = ((ts + 8 * 3600) // 3600) % 24
    return ts, by_local_hour(local_hour).astype(np.float64)
