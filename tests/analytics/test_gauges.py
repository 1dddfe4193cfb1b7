"""Analytics gauges on the planted fleet of test_alerts, on both engines: the expected
label sets and values, label sets removed when their candidate is gone, and the
task bookkeeping (last success, errors)."""

from __future__ import annotations

import datetime as dt

import pytest
from prometheus_client import REGISTRY

from cloudtally.analytics.alerts import evaluate_candidates
from cloudtally.analytics.gauges import refresh_gauges
from cloudtally.store import Store

from .test_alerts import AS_OF, POLICY, Outbox, plant_fleet, set_level


def value(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def series(name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """Every label set of a metric family currently exported, with its value."""
    out = {}
    for family in REGISTRY.collect():
        for s in family.samples:
            if s.name == name:
                out[tuple(sorted(s.labels.items()))] = s.value
    return out


def test_gauges_carry_the_current_state(store: Store) -> None:
    plant_fleet(store)
    summary = evaluate_candidates(store, POLICY, AS_OF, Outbox())
    t0 = dt.datetime.now(dt.UTC).timestamp()
    refresh_gauges(store, POLICY, AS_OF, candidates=summary.candidates)

    idle = series("cloudtally_idle_candidates")
    assert idle == {
        (("bureau", "B1"), ("kind", "vm"), ("pool", "pool-1"), ("provider", "provider-a")): 1.0,
        (
            ("bureau", "B1"),
            ("kind", "storage_partition"),
            ("pool", "pool-1"),
            ("provider", "provider-a"),
        ): 1.0,
    }
    right = series("cloudtally_rightsizing_candidates")
    assert right == {
        (("bureau", "B1"), ("pool", "pool-1"), ("provider", "provider-a")): 1.0,
        (("bureau", "B2"), ("pool", "pool-2"), ("provider", "provider-a")): 1.0,
        (("bureau", "B2"), ("pool", "P9"), ("provider", "other")): 1.0,
    }
    # idle VM 8 vCPU / 16 GB → 1 / 1; oversized → 2 / 4
    vcpu = "cloudtally_rightsizing_freed_vcpu"
    mem = "cloudtally_rightsizing_freed_memory_gb"
    money = "cloudtally_rightsizing_savings_cny_per_year"
    assert value(vcpu, provider="provider-a", pool="pool-1") == 7
    assert value(mem, provider="provider-a", pool="pool-1") == 15
    assert value(vcpu, provider="provider-a", pool="pool-2") == 6
    # pool-1: 30 and 15 CNY a month ÷ 720 × 8760 × 0.55 = 200.75 and 100.375 per year:
    # 7 × 200.75 + 15 × 100.375 = 2910.875 → 2910.88; pool-2 as in test_alerts: 2248.40
    assert value(money, provider="provider-a", pool="pool-1") == pytest.approx(2910.88)
    assert value(money, provider="provider-a", pool="pool-2") == pytest.approx(2248.40)
    assert value(money, provider="other", pool="P9") is None  # unpriced: no figure, not 0
    assert value(vcpu, provider="other", pool="P9") == 6

    # September (the month of the last complete day). pool-1: idle (2 %, 3 %) and busy
    # (45 %, 60 %) of equal size → CPU 23.5 %, memory 31.5 %; disks 50 + 10 + 50 GB used
    # of 100 + 500 + 100 → 15.7 %; overall (23.5 + 31.5 + 15.7) / 3 = 23.6 → 0 and 5 points
    util = "cloudtally_pool_utilization_ratio"
    score = "cloudtally_pool_score"
    p1 = {"provider": "provider-a", "pool": "pool-1"}
    assert value(util, **p1, resource="cpu") == pytest.approx(0.235)
    assert value(util, **p1, resource="memory") == pytest.approx(0.315)
    assert value(util, **p1, resource="storage") == pytest.approx(0.157)
    assert value(util, **p1, resource="overall") == pytest.approx(0.236)
    assert value(score, **p1, indicator="pool_utilization_2pt") == 0
    assert value(score, **p1, indicator="cloud_storage_utilization_10pt") == 5
    # a tariff pool without any usage scores the lowest band and has no utilization
    p6 = {"provider": "provider-c", "pool": "pool-6"}
    assert value(score, **p6, indicator="cloud_storage_utilization_10pt") == 0
    assert value(util, **p6, resource="overall") is None
    pools = {dict(k)["pool"] for k in series(score)}
    assert pools == {"pool-1", "pool-2", "pool-3", "pool-4", "pool-5", "pool-6", "P9"}
    for task in ("candidates", "kpi"):
        seen = value("cloudtally_analytics_last_success_timestamp_seconds", task=task)
        assert seen is not None and seen >= t0 - 1

    # the idle VM works one day: its idle label set disappears, the others stay; no zeros
    set_level(store, "idle", dt.date(2023, 9, 28), 30.0, version=2)
    refresh_gauges(store, POLICY, AS_OF)  # computes the candidates itself
    idle = series("cloudtally_idle_candidates")
    assert list(idle.values()) == [1.0]
    assert dict(next(iter(idle)))["kind"] == "storage_partition"
    assert len(series("cloudtally_rightsizing_candidates")) == 3
    assert 0.0 not in series("cloudtally_rightsizing_freed_vcpu").values()


def test_failures_are_counted_and_raised(chdb_store: Store) -> None:
    errors = {
        t: value("cloudtally_analytics_errors_total", task=t) or 0 for t in ("candidates", "kpi")
    }
    with pytest.raises(LookupError, match="no tariff version"):
        refresh_gauges(chdb_store, POLICY, dt.date(2021, 1, 1))  # before the first version
    for task in ("candidates", "kpi"):
        assert value("cloudtally_analytics_errors_total", task=task) == errors[task] + 1
