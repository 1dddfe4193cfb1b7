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
    return store.insert("collector_heartbeats", cols, {"received_at": now, "version": version})
