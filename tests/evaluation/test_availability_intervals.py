"""Availability when a collector's interval changes, mixes, or a VM is born between scrapes.

Each source here beats like a real collector: 10-minute windows, each from its first to
its last scrape (``data_until`` = window end − the interval in force then). The live edge
is 18:00 local; the store's period runs to midnight, so 18:00 → 24:00 is a metering gap.
Both stores (the ``store`` fixture).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import numpy as np

from cloudtally.core.policy import load_policy
from cloudtally.evaluation.availability import Scope, assess
from cloudtally.policy import example_policy_text
from cloudtally.store import Store
from tests.evaluation.fleet import t

POLICY = load_policy(example_policy_text())
S, E = t(5, 10), t(5, 11)
LIVE = t(5, 10, 18)  # the newest beat and sample are just before this
CHANGE = t(5, 10, 12)  # the operator changes the scrape interval
CHUNK = 600
METERED = LIVE - S
EDGE = E - LIVE  # after the live edge: nobody listened yet


def _step(before: int, after: int) -> Callable[[int], int]:
    return lambda ts: before if ts < CHANGE else after


def _grid(
    step: Callable[[int], int], lo: int, hi: int, skip: tuple[int, int] = (0, 0)
) -> list[int]:
    out, x = [], lo
    while x < hi:
        if not skip[0] <= x < skip[1]:
            out.append(x)
        x += step(x)
    return out


def _plant(
    store: Store,
    source: str,
    step: Callable[[int], int],
    vms: dict[str, tuple[int, list[int], int]],  # vm → (created, sample times, interval)
    outage: tuple[int, int] = (0, 0),  # the collector itself silent: no beats, no samples
) -> None:
    inv: dict[str, list[Any]] = {k: [] for k in (
        "vm_id", "event_ts", "event", "name", "bureau", "system", "pool", "provider", "vcpu",
        "mem_gb", "disk_ids", "disk_size_gb", "disk_tiers", "version")}  # fmt: skip
    for vm, (created, _, _) in vms.items():
        for k, v in dict(
            vm_id=vm, event_ts=created, event="created", name=vm, bureau="edu", system="门户",
            pool="pool-1", provider="provider-a", vcpu=2, mem_gb=Decimal(4), disk_ids=["d0"],
            disk_size_gb=[Decimal(50)], disk_tiers=["standard"], version=1,
        ).items():  # fmt: skip
            inv[k].append(v)
    store.insert("vm_inventory", inv)
    vm_col: list[str] = []
    ts_col: list[int] = []
    iv_col: list[int] = []
    for vm, (_, times, iv) in vms.items():
        vm_col += [vm] * len(times)
        ts_col += times
        iv_col += [iv or step(x) for x in times]
    n = len(vm_col)
    store.insert("samples", {
        "vm_id": np.array(vm_col, dtype=object), "ts": np.array(ts_col, dtype=np.int64),
        "cpu_pct": np.full(n, 20.0, dtype=np.float32),
        "mem_pct": np.full(n, 40.0, dtype=np.float32),
        "source": np.full(n, source, dtype=object), "version": np.ones(n, dtype=np.uint64),
        "interval_s": np.array(iv_col, dtype=np.uint32),
    })  # fmt: skip
    beats: dict[str, list[Any]] = {k: [] for k in (
        "source", "partition", "sent_at", "data_from", "data_until", "samples", "vms",
        "unknown_series", "errors", "received_at", "version")}  # fmt: skip
    for c in range(S - 3600, LIVE, CHUNK):
        first = max(c, outage[1]) if outage[0] <= c < outage[1] else c
        for k, v in dict(
            source=source, partition=0, sent_at=c + CHUNK + 5, data_from=first,
            data_until=c + CHUNK - step(c), samples=1, vms=len(vms), unknown_series=0,
            errors=0, received_at=c + CHUNK + 6, version=1,
        ).items():  # fmt: skip
            beats[k].append(v)
    store.insert("collector_heartbeats", beats)


def _figures(store: Store) -> dict[str, tuple[int, int, int]]:
    a = assess(store, POLICY, Scope(S, E))
    return {v.vm_id: (v.up_s, v.down_s, v.gap_s) for _, v in a.per_vm}


OLD = S - 86400  # created long before the period


def test_a_shrinking_interval_is_expected_at_the_new_interval(store: Store) -> None:
    """300 s → 60 s at noon. The largest interval would vouch for 5 minutes past the newest
    60 s sample (false downtime at the live edge) and bridge a 10-minute silence as jitter."""
    step = _step(300, 60)
    silence = (t(5, 10, 14, 5), t(5, 10, 14, 15))
    _plant(store, "shrink", step, {
        "vm-shrink": (OLD, _grid(step, S - 3600, LIVE, silence), 0),
        "vm-steady": (OLD, _grid(step, S - 3600, LIVE), 0),
    })  # fmt: skip
    got = _figures(store)
    assert got["vm-steady"] == (METERED, 0, EDGE)
    assert got["vm-shrink"] == (METERED - 600, 600, EDGE)


def test_a_growing_interval_neither_over_covers_nor_reads_slow_samples_as_silence(
    store: Store,
) -> None:
    """60 s → 300 s at noon. At 60 s a 4-minute collector stop is a metering gap (the
    largest interval, 300 s, would have covered it); at 300 s no sample is a silence."""
    step = _step(60, 300)
    stop = (t(5, 10, 9), t(5, 10, 9, 4))
    _plant(store, "grow", step, {"vm-grow": (OLD, _grid(step, S - 3600, LIVE, stop), 0)}, stop)
    assert _figures(store)["vm-grow"] == (METERED - 240, 0, EDGE + 240)


def test_one_source_mixing_intervals_covers_each_vm_at_its_own(store: Store) -> None:
    """The first run's case: 900 s and 60 s VMs behind one source. Neither reads as down
    for 14 minutes past its newest sample."""
    step = _step(60, 60)
    _plant(store, "mixed", step, {
        "vm-900": (OLD, list(range(S - 3600, LIVE, 900)), 900),
        "vm-60": (OLD, _grid(step, S - 3600, LIVE), 60),
    })  # fmt: skip
    got = _figures(store)
    assert got["vm-60"] == (METERED, 0, EDGE)
    assert got["vm-900"] == (METERED, 0, EDGE)


def test_a_vm_is_not_expected_to_answer_before_its_first_scrape(store: Store) -> None:
    """Created 50 s before the exporter's next scrape: up from creation. One that sends
    nothing for 10 minutes after creation (three intervals and more) was down from it."""
    step = _step(60, 60)
    born, late = t(5, 10, 13, 2) + 10, t(5, 10, 13)
    _plant(store, "born", step, {
        "vm-born": (born, _grid(step, t(5, 10, 13, 3), LIVE), 0),
        "vm-late": (late, _grid(step, late + 600, LIVE), 0),
        "vm-peer": (OLD, _grid(step, S - 3600, LIVE), 0),
    })  # fmt: skip
    got = _figures(store)
    assert got["vm-born"] == (LIVE - born, 0, EDGE)
    assert got["vm-late"] == (LIVE - late - 600, 600, EDGE)
    assert got["vm-peer"] == (METERED, 0, EDGE)
