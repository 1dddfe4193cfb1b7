"""Idle window vs VM age: a VM younger than the 14-day window never qualifies."""

from __future__ import annotations

import datetime as dt

import numpy as np
import orjson
import pytest

from cloudtally.analytics.queries import find_idle
from cloudtally.analytics.rollups import hours_of_days, recompute_days, recompute_hours
from cloudtally.core.idle import IdleRule, VmWindowStats, idle_candidates
from cloudtally.core.policy import load_policy
from cloudtally.core.samples import BatchRejected, decode_batch, encode_batch
from cloudtally.core.samples_arrow import encode_arrow_batch
from cloudtally.policy import example_policy_text
from cloudtally.worker.sink import IngestSink, RawMessage
from tests.analytics.plant import SH, epoch, inventory, samples

AS_OF = dt.date(2023, 11, 1)


def stats(alloc_hours: float, samples_: int) -> VmWindowStats:
    return VmWindowStats(
        vm_id="v", bureau="b", system="s", pool="p", provider="x", vcpu=4, mem_gb=8,
        samples=samples_, cpu_avg=1.0, mem_avg=1.0, cpu_max=2.0, mem_max=2.0,
        alloc_hours=alloc_hours, expected_samples=int(alloc_hours * 60),
    )  # fmt: skip


def test_core_rule_needs_the_whole_window() -> None:
    start = AS_OF - dt.timedelta(days=14)
    kw = {"window_start": start, "window_end": AS_OF, "sample_interval_s": 60}
    # 13 days old, fully metered: 13/14 = 0.93 of the window's samples, but too young
    assert idle_candidates([stats(13 * 24, 13 * 1440)], IdleRule(), **kw) == []
    # 14 days, 85 % of its own samples: a candidate, coverage over its life
    found = idle_candidates([stats(14 * 24, int(14 * 1440 * 0.85))], IdleRule(), **kw)
    assert [c.evidence["coverage"] for c in found] == [0.85]
    assert found[0].evidence["window_hours"] == 336


def test_a_vm_created_13_days_ago_is_not_idle_one_created_20_days_ago_is(store) -> None:
    policy = load_policy(example_policy_text())
    util = policy.versions[-1].utilization
    for vm, age in (("young", 13), ("old", 20)):
        created = epoch(2023, 11, 1, tz=SH) - age * 86_400
        inventory(store, vm, created, pool="pool-1", provider="provider-a")
        ts = np.arange(created, epoch(2023, 11, 1, tz=SH), util.expected_sample_interval_s)
        samples(store, vm, ts, 1.0, 2.0)
    d0 = AS_OF - dt.timedelta(days=21)
    h0, h1 = hours_of_days(d0, AS_OF, "Asia/Shanghai")
    recompute_hours(store, None, h0, h1, utilization=util)
    recompute_days(store, None, d0, AS_OF, utilization=util)
    found = find_idle(store, AS_OF, policy=util)["items"]
    assert [c["vm_id"] for c in found] == ["old"]
    assert found[0]["evidence"]["vm_hours_in_window"] == 336.0


def test_a_300_s_collector_is_fully_covered_and_yields_idle_candidates(store) -> None:
    # `make up` samples every 300 s while the default policy says 60 s: the collector
    # declares its interval on each batch, so coverage is 1, not 0.2.
    policy = load_policy(example_policy_text())
    util = policy.versions[-1].utilization
    assert util.expected_sample_interval_s == 60
    created = epoch(2023, 11, 1, tz=SH) - 20 * 86_400
    inventory(store, "demo", created, pool="pool-1", provider="provider-a")
    ts = np.arange(created, epoch(2023, 11, 1, tz=SH), 300) + 17  # not on the minute
    gap = epoch(2023, 10, 25, 3, tz=SH)
    ts = ts[(ts < gap) | (ts >= gap + 3600)]  # a one-hour gap: it still counts
    sink = IngestSink(store, max_future_s=10**9)
    half = len(ts) // 2  # one JSON and one Arrow batch, both declaring 300 s
    messages = [
        encode_batch("simulate", ["demo"] * half, ts[:half], [1.0] * half, [2.0] * half,
                     interval_s=300),
        encode_arrow_batch("simulate", ["demo"] * (len(ts) - half), ts[half:],
                           np.full(len(ts) - half, 1.0), np.full(len(ts) - half, 2.0),
                           interval_s=300),
    ]  # fmt: skip
    result = sink.write_samples([RawMessage("samples", 0, i, m) for i, m in enumerate(messages)])
    assert not result.dead_letters
    d0 = AS_OF - dt.timedelta(days=21)
    h0, h1 = hours_of_days(d0, AS_OF, "Asia/Shanghai")
    recompute_hours(store, None, h0, h1, utilization=util)
    recompute_days(store, None, d0, AS_OF, utilization=util)
    hourly = store.rows(
        "SELECT samples, expected_samples FROM usage_hourly FINAL WHERE vm_id = 'demo' "
        "AND alloc_fraction = 1 AND samples > 1 LIMIT 1"
    )
    assert hourly == [(12, 12)]
    found = find_idle(store, AS_OF, policy=util)["items"]
    assert [c["vm_id"] for c in found] == ["demo"]
    # 335 hours × 12 samples over 335 × 12 + 60 expected: the gap hour has no declared
    # sample and expects the policy's 60 s
    assert found[0]["evidence"]["coverage"] == round(335 * 12 / (335 * 12 + 60), 4)


def test_a_declared_interval_must_be_whole_seconds_in_range() -> None:
    for bad in (0, -5, 86_401, 1.5, True, "300s"):
        with pytest.raises(BatchRejected, match="interval_s"):
            decode_batch(
                encode_batch("x", ["v"], [1_700_000_000], [1.0], [1.0], interval_s=None)[:-1]
                + b',"interval_s":'
                + orjson.dumps(bad)
                + b"}",
                now=1_700_000_000,
            )
    ok = encode_arrow_batch("x", ["v"], np.array([1_700_000_000]), np.array([1.0]),
                            np.array([1.0]), interval_s=300)  # fmt: skip
    assert decode_batch(ok, now=1_700_000_000).interval_s == 300
    assert (
        decode_batch(
            encode_batch("x", ["v"], [1_700_000_000], [1.0], [1.0]), now=1_700_000_000
        ).interval_s
        == 0
    )
