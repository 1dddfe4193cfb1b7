"""Derived data in the stream: rollups and rating as recomputations of touched keys.

The ingest sink records every (VM, hour) whose raw samples changed in
``rollup_queue`` (version = ingest time in ms). Two steps consume that queue,
each with its own watermark in ``worker_state``:

* **rollup**: first adopt newly announced VMs (their orphan samples' hours join
  the queue, worker/adoption.py), then recompute ``usage_hourly`` for every
  touched hour (all VMs alive in it, so a VM with a metering gap still gets its
  hour row, marked as a gap) and ``usage_daily`` for the touched local days;
* **rating**: rate each local day once it has closed (bill lines are per
  closed day), re-rate closed days that late data touched (after the rollup
  step has covered them) and the days of any tariff version that is new or
  changed in the policy file, then refresh the provisional volume-tier accrual
  of those months. The open day is not rated until it closes.

A watermark moves only after its step succeeded, so a crash means the same
keys are recomputed again — idempotently (architecture Principle 1). Late data
simply lands in the queue with a new version and is recomputed the same way.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import numpy as np

from cloudtally import metrics
from cloudtally.analytics.rollups import recompute_days, recompute_hours
from cloudtally.core.calendar import HOUR
from cloudtally.core.policy import Policy
from cloudtally.store import Store
from cloudtally.worker.adoption import adopt_announced

log = logging.getLogger(__name__)

ROLLUP = "rollup_watermark"
RATING = "rating_watermark"
CLOSED_THROUGH = "rating_closed_through"
# Hours are recomputed in runs of at most this many (one INSERT ... SELECT each).
MAX_HOURS_PER_CALL = 24 * 7
# When a replicated store is unsettled, the rollup recomputes again from this much
# (ms of queue versions) before its watermark: replicas may fetch parts out of order.
HOLD_MARGIN_MS = 300_000


@dataclass
class StepResult:
    hours: int = 0
    days: list[dt.date] = field(default_factory=list)
    rows: int = 0
    seconds: float = 0.0
    closed_months_touched: list[dt.date] = field(default_factory=list)


def watermark(store: Store, name: str) -> int:
    return int(
        store.scalar("SELECT max(value) FROM worker_state WHERE name = %(n)s", {"n": name}) or 0
    )


def set_watermark(store: Store, name: str, value: int) -> None:
    store.insert(
        "worker_state", {"name": [name], "value": [value], "updated_at": [int(time.time())]}
    )


def pending_hours(store: Store, after: int, upto: int) -> np.ndarray:
    """Distinct touched UTC hours (epoch s) with queue version in (after, upto]."""
    cols = store.columns(
        "SELECT DISTINCT toUInt32(hour) AS h FROM rollup_queue "
        "WHERE version > %(a)s AND version <= %(b)s ORDER BY h",
        {"a": after, "b": upto},
    )
    return np.asarray(cols.get("h", []), dtype=np.int64)


def hour_runs(hours: np.ndarray, max_len: int = MAX_HOURS_PER_CALL) -> list[tuple[int, int]]:
    """Contiguous [from, to) runs of sorted distinct hours, each at most max_len hours."""
    runs: list[tuple[int, int]] = []
    for h in hours.tolist():
        if runs and runs[-1][1] == h and (runs[-1][1] - runs[-1][0]) // HOUR < max_len:
            runs[-1] = (runs[-1][0], h + HOUR)
        else:
            runs.append((h, h + HOUR))
    return runs


def local_days(hours: np.ndarray, timezone: str) -> list[dt.date]:
    zone = ZoneInfo(timezone)
    return sorted({dt.datetime.fromtimestamp(int(h), zone).date() for h in hours.tolist()})


def day_runs(days: list[dt.date]) -> list[tuple[dt.date, dt.date]]:
    runs: list[tuple[dt.date, dt.date]] = []
    for d in days:
        if runs and runs[-1][1] == d:
            runs[-1] = (runs[-1][0], d + dt.timedelta(days=1))
        else:
            runs.append((d, d + dt.timedelta(days=1)))
    return runs


def whole_months_so_far(policy: Policy, days: list[dt.date], today: dt.date) -> list[dt.date]:
    """With a low-utilization cut evaluated per month, a day's line depends on the whole
    month: rating any day of a month re-rates every closed day of that month, so when
    its last day closes the stream has rated the month exactly as an explicit re-rate."""
    from cloudtally.core.tariff import cut_clause

    monthly = any(
        (c := cut_clause(v, p.id)) is not None and c.period == "month"
        for v in policy.versions
        for p in v.providers
    )
    if not monthly or not days:
        return days
    out = set(days)
    for first in {d.replace(day=1) for d in days}:
        d = first
        while d.month == first.month and d < today:
            out.add(d)
            d += dt.timedelta(days=1)
    return sorted(out)


class Derivation:
    """The two queue consumers; synchronous, run in a thread by the worker's timers."""

    def __init__(self, store: Store, policy: Policy | Callable[[], Policy]) -> None:
        self.store = store
        self._policy = policy
        # Rollup watermark when the replicated store stopped being settled (see rollup).
        self._held_from: int | None = None

    @property
    def policy(self) -> Policy:
        """The tariff/policy in force; a callable provider is asked each time (reloads)."""
        return self._policy() if callable(self._policy) else self._policy

    def _version_policies(self, at: int):  # type: ignore[no-untyped-def]
        v = self.policy.version_at(dt.datetime.fromtimestamp(at, dt.UTC))
        return v.calendar, v.utilization

    def requeue_supplied_years(self) -> int:
        """Queue again the hours weighted by the weekday rule (no official schedule)
        whose year the policy now knows, so exactly those hours are re-derived (rollups,
        then rating through the same queue). Returns the number of hours queued."""
        from cloudtally.analytics.calendar_status import supplied_provisional_hours

        hours = supplied_provisional_hours(self.store, self.policy)
        if len(hours):
            self.store.insert(
                "rollup_queue",
                {
                    "vm_id": [""] * len(hours),
                    "hour": hours,
                    "version": np.full(len(hours), time.time_ns() // 1_000_000, dtype=np.uint64),
                },
            )
            log.info("official schedule supplied: re-deriving %d provisional hours", len(hours))
        return len(hours)

    def _tariff_changes(self, policy: Policy, today: dt.date) -> tuple[list[dt.date], list[str]]:
        """Closed days with usage under a tariff version that is new or changed since the
        last pass (versions are recognised by a fingerprint of their content)."""
        seen = {
            r[0]
            for r in self.store.rows(
                "SELECT DISTINCT name FROM worker_state WHERE name LIKE %(p)s", {"p": "tariff:%"}
            )
        }
        days: set[dt.date] = set()
        names: list[str] = []
        versions = policy.versions
        for i, version in enumerate(versions):
            digest = hashlib.sha256(version.model_dump_json().encode()).hexdigest()[:16]
            name = f"tariff:{version.version}:{digest}"
            if name in seen:
                continue
            names.append(name)
            d0 = version.effective_from
            d1 = versions[i + 1].effective_from if i + 1 < len(versions) else today
            days.update(
                r[0]
                for r in self.store.rows(
                    "SELECT DISTINCT day FROM usage_daily WHERE day >= %(d0)s AND day < %(d1)s",
                    {"d0": d0, "d1": min(d1, today)},
                )
            )
        return sorted(days), names

    def _month_closed(self, month: dt.date) -> bool:
        return bool(
            self.store.scalar(
                "SELECT count() FROM statement_lines FINAL WHERE month = %(m)s "
                "AND kind = 'volume_tier' AND status = 'final'",
                {"m": month},
            )
        )

    def rollup(self) -> StepResult:
        """Recompute usage for every hour touched since the rollup watermark."""
        started = time.perf_counter()
        # A replicated store may not show yet what a dead replica acknowledged; it
        # arrives later with its old queue versions. While unsettled, recompute but hold
        # the watermark, and once settled recompute again from where it was held.
        settled = self.store.replication_settled()
        self.requeue_supplied_years()
        adopt_announced(self.store)  # newly announced VMs' orphan hours, into the queue
        after = watermark(self.store, ROLLUP)
        if not settled and self._held_from is None:
            self._held_from = max(0, after - HOLD_MARGIN_MS)
        if settled and self._held_from is not None:
            after = min(after, self._held_from)
        upto = int(self.store.scalar("SELECT max(version) FROM rollup_queue") or 0)
        result = StepResult()
        if upto <= after:
            self._held_from = None if settled else self._held_from
            metrics.ANALYTICS_LAST_SUCCESS.labels("rollup").set(time.time())
            return result
        hours = pending_hours(self.store, after, upto)
        official = self.policy.official
        for h0, h1 in hour_runs(hours):
            calendar, utilization = self._version_policies(h0)
            result.rows += recompute_hours(
                self.store, None, h0, h1, calendar, utilization, official
            )
        result.hours = len(hours)
        tz = self.policy.versions[-1].calendar.timezone
        result.days = local_days(hours, tz)
        for d0, d1 in day_runs(result.days):
            midnight = int(dt.datetime.combine(d0, dt.time(), ZoneInfo(tz)).timestamp())
            calendar, utilization = self._version_policies(midnight)
            recompute_days(self.store, None, d0, d1, calendar, utilization)
        if settled:
            set_watermark(self.store, ROLLUP, upto)
            self._held_from = None
        from cloudtally.analytics.calendar_status import refresh_calendar_gauge

        refresh_calendar_gauge(self.store, self.policy)
        result.seconds = time.perf_counter() - started
        metrics.ANALYTICS_LAST_SUCCESS.labels("rollup").set(time.time())
        return result

    def rate(self, now: float | None = None) -> StepResult:
        """Rate local days that closed since the last pass, and re-rate closed days
        touched by late data since the rating watermark (after the rollup step)."""
        from cloudtally.billing.rate import accrue_month, rate_period

        started = time.perf_counter()
        after = watermark(self.store, RATING)
        upto = watermark(self.store, ROLLUP)  # only what the rollup step has covered
        closed_through = watermark(self.store, CLOSED_THROUGH)  # a date's ordinal, 0 = none
        zone = self.policy.zone
        today = dt.datetime.fromtimestamp(now or time.time(), zone).date()
        touched = (
            local_days(pending_hours(self.store, after, upto), str(zone)) if upto > after else []
        )
        newly_closed = [
            row[0]
            for row in self.store.rows(
                "SELECT DISTINCT day FROM usage_daily WHERE day > %(d0)s AND day < %(today)s",
                {"d0": dt.date.fromordinal(max(closed_through, 1)), "today": today},
            )
        ]
        policy = self.policy
        retariffed, fingerprints = self._tariff_changes(policy, today)
        # New or late evidence changes a monthly cut's figure for the whole month; a new
        # tariff version changes prices only, so only its own days are re-rated.
        evidence = sorted({d for d in touched if d < today} | set(newly_closed))
        days = sorted(set(whole_months_so_far(policy, evidence, today)) | set(retariffed))
        result = StepResult(days=days)
        for d0, d1 in day_runs(days):
            t0 = dt.datetime.combine(d0, dt.time(), zone)
            t1 = dt.datetime.combine(d1, dt.time(), zone)
            summary = rate_period(
                self.store, policy, t0, t1, None, "stream", "stream", now=now or time.time()
            )
            result.rows += summary.line_count
        for month in sorted({d.replace(day=1) for d in days}):
            if self._month_closed(month):
                # A closed month's final statement changes only by an explicit re-close.
                log.warning(
                    "late data re-rated days of closed month %s; its final volume-tier "
                    "lines are unchanged until `cloudtally billing close-month %s`",
                    f"{month:%Y-%m}",
                    f"{month:%Y-%m}",
                )
                result.closed_months_touched.append(month)
                continue
            accrue_month(self.store, policy, month)
        if upto > after:
            set_watermark(self.store, RATING, upto)
        for name in fingerprints:  # recorded once their days are rated
            set_watermark(self.store, name, 1)
        yesterday = (today - dt.timedelta(days=1)).toordinal()
        if days and yesterday > closed_through:
            set_watermark(self.store, CLOSED_THROUGH, yesterday)
        result.seconds = time.perf_counter() - started
        metrics.ANALYTICS_LAST_SUCCESS.labels("rating").set(time.time())
        return result
