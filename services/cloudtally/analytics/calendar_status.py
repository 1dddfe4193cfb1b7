"""Which hours were weighted without an official working-day schedule.

An hour of a local year the official calendar does not know is weighted by the
plain weekday rule and stored with ``hour_weights.provisional = 1`` (and
``usage_hourly.calendar_provisional``). These read models tell the worker
which of them the policy now knows (to re-derive exactly those hours) and
count the rest per year for the ``cloudtally_calendar_provisional_hours``
gauge and its alert.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from cloudtally import metrics
from cloudtally.core.calendar import HOUR
from cloudtally.core.policy import Policy
from cloudtally.store.base import Store


def provisional_hours(store: Store) -> np.ndarray:
    """UTC hours (epoch s) whose current weights came from the weekday rule."""
    rows = store.rows(
        "SELECT toUInt32(hour) AS h FROM hour_weights FINAL WHERE provisional = 1 ORDER BY h"
    )  # rows, not columns: the 18.16 driver returns no columns for an empty result
    return np.asarray([r[0] for r in rows], dtype=np.int64)


def _local_years(policy: Policy, hours: np.ndarray) -> list[tuple[int, int]]:
    """(year at the hour's start, year at its last minute) in the policy timezone."""
    zone = policy.zone
    return [
        (
            dt.datetime.fromtimestamp(int(h), zone).year,
            dt.datetime.fromtimestamp(int(h) + HOUR - 60, zone).year,
        )
        for h in hours.tolist()
    ]


def supplied_provisional_hours(store: Store, policy: Policy) -> np.ndarray:
    """Provisional hours whose local year(s) the policy's official calendar now knows."""
    hours = provisional_hours(store)
    official = policy.official
    keep = [official.knows(a) and official.knows(b) for a, b in _local_years(policy, hours)]
    return hours[np.asarray(keep, dtype=bool)] if len(hours) else hours


def provisional_by_year(store: Store, policy: Policy) -> dict[int, int]:
    """Provisional hours still waiting for a schedule, per local year."""
    out: dict[int, int] = {}
    official = policy.official
    for a, b in _local_years(policy, provisional_hours(store)):
        year = a if not official.knows(a) else b
        out[year] = out.get(year, 0) + 1
    return out


def refresh_calendar_gauge(store: Store, policy: Policy) -> dict[int, int]:
    """Set ``cloudtally_calendar_provisional_hours{year}`` (0 for a year now supplied)."""
    counts = provisional_by_year(store, policy)
    gauge = metrics.CALENDAR_PROVISIONAL_HOURS
    for labels in list(gauge._metrics):  # zero years now supplied
        if int(labels[0]) not in counts:
            gauge.labels(labels[0]).set(0)
    for year, n in counts.items():
        gauge.labels(str(year)).set(n)
    return counts
