"""Prometheus gauges of the analytics: pool KPIs and open candidates, set to the current state.

The alert rules in ``deploy/prometheus/rules/alerts.yml`` read these gauges,
so a label set must disappear when its pool or candidate does (a stale series
would keep an alert firing) and must never read 0 while a refresh is running
(a transient 0 would resolve one). Each refresh therefore computes every new
value first, sets them, and only then removes the label sets it set last time
that are no longer present.

``as_of`` is the local date the refresh runs for (normally today). Candidate
windows end at its 00:00 (see :mod:`cloudtally.analytics.alerts`); the pool KPIs
are those of the month of the last complete day (``as_of`` − 1 day) including
any rollups of later days of that month — "this month so far", and on the 1st
the month just closed rather than nothing.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
from collections import defaultdict
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from prometheus_client import Gauge

from cloudtally import metrics
from cloudtally.analytics.alerts import CandidateSet, current_candidates, local_day, version_for
from cloudtally.analytics.queries import pool_kpis
from cloudtally.core.idle import month_start
from cloudtally.core.kpi import band_points
from cloudtally.core.policy import Policy
from cloudtally.store.base import Store

Labels = tuple[str, ...]
Values = dict[Labels, float]

# Label sets this process has set, per gauge: what a refresh may remove.
_published: dict[Gauge, set[Labels]] = {}
_lock = threading.Lock()

IDLE_KIND = {"idle": "vm", "storage_idle": "storage_partition"}  # candidate kind → gauge label
RESOURCES = (("cpu", "cpu_pct"), ("memory", "mem_pct"), ("storage", "storage_pct"))


def publish(gauge: Gauge, values: Mapping[Labels, float]) -> None:
    """Set ``values``, then remove the label sets of the previous publish that are gone."""
    with _lock:
        for labels, value in values.items():
            gauge.labels(*labels).set(value)
        for labels in _published.get(gauge, set()) - set(values):
            with contextlib.suppress(KeyError):  # already gone
                gauge.remove(*labels)
        _published[gauge] = set(values)


def kpi_values(store: Store, policy: Policy, as_of: dt.date) -> tuple[Values, Values]:
    """Pool utilization ratios (0–1) and scores, for the month of ``as_of`` − 1 day.

    Pools of the tariff with no usage at all still get their scores: no evidence
    counts as the lowest band. A resource without data gets no ratio.
    """
    version = version_for(policy, as_of)
    bands = version.utilization.scores
    month = month_start(as_of - dt.timedelta(days=1))
    ratios: Values = {}
    scores: Values = {}
    for prov in version.providers:
        for pool in prov.pools:
            scores[(prov.id, pool.id, "pool_utilization_2pt")] = band_points(None, bands.two_point)
            scores[(prov.id, pool.id, "cloud_storage_utilization_10pt")] = band_points(
                None, bands.ten_point
            )
    for item in pool_kpis(store, month, policy=version.utilization)["items"]:
        prov_id, pool_id = item["provider"], item["pool"]
        for resource, column in (*RESOURCES, ("overall", "utilization_pct")):
            if item[column] is not None:
                ratios[(prov_id, pool_id, resource)] = float(
                    Decimal(str(item[column])) / Decimal(100)
                )
        scores[(prov_id, pool_id, "pool_utilization_2pt")] = float(item["points_2"])
        scores[(prov_id, pool_id, "cloud_storage_utilization_10pt")] = float(item["points_10"])
    return ratios, {k: float(v) for k, v in scores.items()}


def candidate_values(found: CandidateSet) -> dict[str, Values]:
    """Open candidate counts and rightsizing totals, keyed by gauge name."""
    idle: dict[Labels, float] = defaultdict(float)
    right: dict[Labels, float] = defaultdict(float)
    vcpu: dict[Labels, float] = defaultdict(float)
    mem: dict[Labels, Decimal] = defaultdict(Decimal)
    money: dict[Labels, Decimal] = defaultdict(Decimal)
    for c in found.items:
        where = (c["provider"], c["pool"])
        if c["kind"] in IDLE_KIND:
            idle[(*where, c["bureau"], IDLE_KIND[c["kind"]])] += 1
        elif c["kind"] == "rightsizing":
            right[(*where, c["bureau"])] += 1
            vcpu[where] += int(c["freed_vcpu"])
            mem[where] += Decimal(c["freed_mem_gb"])
            if c["savings_year"] is not None:  # unpriced pool: no figure rather than 0
                money[where] += Decimal(c["savings_year"])
    return {
        "idle": dict(idle),
        "rightsizing": dict(right),
        "vcpu": dict(vcpu),
        "mem": {k: float(v) for k, v in mem.items()},
        "money": {k: float(v) for k, v in money.items()},
    }


def refresh_gauges(
    store: Store,
    policy: Policy,
    as_of: dt.date | dt.datetime,
    *,
    candidates: CandidateSet | None = None,
) -> dict[str, Any]:
    """Set the candidate gauges (task ``candidates``) and the pool KPI gauges (task ``kpi``).

    Pass the ``candidates`` of :func:`evaluate_candidates` (``summary.candidates``)
    to avoid computing them twice. Each task sets its
    ``cloudtally_analytics_last_success_timestamp_seconds`` on success and counts
    ``cloudtally_analytics_errors_total`` on failure; both run, then the first
    failure is re-raised. Returns the values set (for logs and tests).
    """
    day = local_day(as_of, policy)
    out: dict[str, Any] = {}
    failure: BaseException | None = None
    try:
        found = candidates if candidates is not None else current_candidates(store, policy, day)
        v = candidate_values(found)
        publish(metrics.IDLE_CANDIDATES, v["idle"])
        publish(metrics.RIGHTSIZING_CANDIDATES, v["rightsizing"])
        publish(metrics.RIGHTSIZING_FREED_VCPU, v["vcpu"])
        publish(metrics.RIGHTSIZING_FREED_MEMORY_GB, v["mem"])
        publish(metrics.RIGHTSIZING_SAVINGS, v["money"])
        metrics.ANALYTICS_LAST_SUCCESS.labels("candidates").set_to_current_time()
        out["candidates"] = v
    except Exception as exc:
        metrics.ANALYTICS_ERRORS.labels("candidates").inc()
        failure = exc
    try:
        ratios, scores = kpi_values(store, policy, day)
        publish(metrics.POOL_UTILIZATION, ratios)
        publish(metrics.POOL_SCORE, scores)
        metrics.ANALYTICS_LAST_SUCCESS.labels("kpi").set_to_current_time()
        out["kpi"] = {"utilization": ratios, "scores": scores}
    except Exception as exc:
        metrics.ANALYTICS_ERRORS.labels("kpi").inc()
        failure = failure or exc
    if failure is not None:
        raise failure
    return out
