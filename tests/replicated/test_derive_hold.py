"""The rollup watermark is held while a replicated store is unsettled (both engines).

A part a dead replica acknowledged reaches the others only when it returns,
with the rollup-queue version it got at ingest, below a watermark that moved
meanwhile. The rule: while the store is unsettled the rollup recomputes but
does not move its watermark, and the first settled pass recomputes from where
it was held (with a margin), so the late part's hours are recomputed.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np

from cloudtally.collectors.fleet import Fleet
from cloudtally.core.samples import encode_batch
from cloudtally.policy import current_policy
from cloudtally.store import Store
from cloudtally.worker.derive import ROLLUP, Derivation, watermark
from cloudtally.worker.sink import IngestSink, RawMessage

SHANGHAI = dt.timezone(dt.timedelta(hours=8))
START = int(dt.datetime(2026, 3, 2, tzinfo=SHANGHAI).timestamp())
HOUR = 3600


class Replicas:
    """The store as the derivation sees it, with replication settled or not."""

    def __init__(self, store: Store) -> None:
        self._store, self.settled = store, True

    def replication_settled(self) -> bool:
        return self.settled

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def write_hour(sink: IngestSink, fleet: Fleet, h0: int, offset: int) -> None:
    for i, chunk in enumerate(fleet.samples(h0, h0 + HOUR, 600, disk_interval=HOUR)):
        s = chunk.samples
        raw = encode_batch("simulate", list(s.vm_id), s.ts, s.cpu_pct, s.mem_pct)
        sink.write_samples([RawMessage("samples", 0, offset + i, raw)])


def hour_samples(store: Store, h0: int) -> int:
    return int(
        store.scalar(
            "SELECT sum(samples) FROM usage_hourly FINAL WHERE hour = toDateTime(%(h)s, 'UTC')",
            {"h": h0},
        )
    )


def test_a_late_part_below_the_watermark_is_recomputed_once_settled(store) -> None:
    fleet = Fleet.build(5, 4, 1, 1, providers=1, start=START, end=START + 3 * HOUR)
    sink = IngestSink(store)
    sink.write_inventory(
        [RawMessage("inventory", 0, i, e.to_json()) for i, e in enumerate(fleet.inventory_events())]
    )
    replicas = Replicas(store)
    derivation = Derivation(replicas, current_policy(None))  # type: ignore[arg-type]
    write_hour(sink, fleet, START, 0)
    derivation.rollup()
    held = watermark(store, ROLLUP)
    before = hour_samples(store, START)
    assert held > 0 and before > 0

    replicas.settled = False  # a replica died
    write_hour(sink, fleet, START + HOUR, 100)
    derivation.rollup()
    assert watermark(store, ROLLUP) == held  # recomputed, but not trusted
    assert hour_samples(store, START + HOUR) > 0

    # The dead replica returns with a part it had acknowledged: samples of the first
    # hour (offset 5 min from the others) and their queue entry, versioned before `held`.
    vm = fleet.vms[0].vm_id
    ts = np.arange(START + 300, START + HOUR, 600)
    store.insert(
        "samples",
        {"vm_id": [vm] * len(ts), "ts": ts, "cpu_pct": np.full(len(ts), 5.0, np.float32),
         "mem_pct": np.full(len(ts), 5.0, np.float32)},
        {"source": "simulate", "version": held - 1_000},
    )  # fmt: skip
    store.insert("rollup_queue", {"vm_id": [vm], "hour": [START], "version": [held - 1_000]})
    replicas.settled = True
    derivation.rollup()
    assert watermark(store, ROLLUP) > held
    assert hour_samples(store, START) == before + len(ts)
