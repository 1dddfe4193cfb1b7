"""Collector heartbeats on the samples topic -> ``collector_heartbeats`` (see core.heartbeat).

Written in the same flush as the samples before them and after those samples'
insert, so a stored beat never claims a sample the store does not have.
"""

from __future__ import annotations

from collections.abc import Sequence

from cloudtally.core.heartbeat import Heartbeat
from cloudtally.store import Store


def insert_heartbeats(store: Store, beats: Sequence[Heartbeat], now: int, version: int) -> int:
    if not beats:
        return 0
    cols = {
        name: [getattr(b, name) for b in beats]
        for name in (
            "source",
            "partition",
            "sent_at",
            "data_from",
            "data_until",
            "samples",
            "vms",
            "unknown_series",
            "errors",
        )
    }
    n = store.insert("collector_heartbeats", cols, {"received_at": now, "version": version})
    seen = [(b, a) for b in beats for a in b.allocation]
    if seen:
        store.insert(
            "observed_allocation",
            {
                "vm_id": [a[0] for _, a in seen],
                "ts": [b.data_until for b, _ in seen],
                "source": [b.source for b, _ in seen],
                "vcpu": [a[1] for _, a in seen],
                "mem_gb": [a[2] for _, a in seen],
            },
            {"received_at": now, "version": version},
        )
    return n
