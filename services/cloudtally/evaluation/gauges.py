"""Pool availability gauges (month so far) for the alert CloudtallyPoolBelowAvailabilityTarget.

Recomputed at most every 15 minutes (a month of 15,000 VMs takes minutes, see
docs/availability.md). Display only: the figures of record are computed exactly on
request (API, credits).
A pool with nothing metered this month publishes no ratio (no evidence is not 100 %).
"""

from __future__ import annotations

import datetime as dt
import time
from collections import defaultdict

from cloudtally import metrics
from cloudtally.analytics.gauges import publish
from cloudtally.core.availability import VmAvailability, aggregate
from cloudtally.core.policy import Policy
from cloudtally.evaluation.availability import Scope, assess, month_span, target_for
from cloudtally.store import Store


def availability_values(
    store: Store, policy: Policy, day: dt.date, now: int | None = None
) -> tuple[dict[tuple[str, ...], float], dict[tuple[str, ...], float]]:
    """(provider, pool) → availability 0–1 this month up to ``now``, and → its target."""
    t0, t1 = month_span(policy, day.replace(day=1))
    end = min(t1, int(time.time()) if now is None else now)
    if end <= t0:
        return {}, {}
    a = assess(store, policy, Scope(t0, end))
    groups: dict[tuple[str, str], list[VmAvailability]] = defaultdict(list)
    for _, v in a.per_vm:  # the provider and pool of each part's own time
        groups[(v.label("provider"), v.label("pool"))].append(v)
    ratios, targets = {}, {}
    for key, items in groups.items():
        fig = aggregate(items).availability
        if fig is None:
            continue
        ratios[key] = float(fig)
        target = target_for(policy, end - 1, key[1])
        if target is not None:
            targets[key] = float(target) / 100
    return ratios, targets


REFRESH_EVERY_S = 900.0  # the month-so-far assessment is heavy; the alert waits 1 h anyway
_last_refresh = 0.0


def refresh_availability_gauges(
    store: Store, policy: Policy, day: dt.date, *, every_s: float = REFRESH_EVERY_S
) -> None:
    """Called by the worker's analytics step each minute; recomputes at most every 15 min
    (the gauges keep their values in between)."""
    global _last_refresh
    if time.monotonic() - _last_refresh < every_s and _last_refresh:
        return
    _last_refresh = time.monotonic()
    try:
        ratios, targets = availability_values(store, policy, day)
        publish(metrics.POOL_AVAILABILITY, ratios)
        publish(metrics.POOL_AVAILABILITY_TARGET, targets)
        metrics.ANALYTICS_LAST_SUCCESS.labels("availability").set_to_current_time()
    except Exception:
        metrics.ANALYTICS_ERRORS.labels("availability").inc()
        raise
