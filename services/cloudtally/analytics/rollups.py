"""Hourly and daily utilization rollups, recomputed in ClickHouse from raw truth.

Every function here is an idempotent recomputation of a set of keys (architecture
Principle 1): one ``INSERT … SELECT`` per call reads ``samples FINAL``,
``disk_samples FINAL``, ``vm_inventory FINAL`` and ``hour_weights FINAL`` for
exactly the requested VMs and period and writes rows with a new ``version``;
the measures are a deterministic function of the inputs (integer sums for the
averages, exact quantiles, sorted float sums), so recomputing twice yields
identical measures and, read with FINAL, the same row count.

Definitions (usage_hourly, one row per VM-hour the VM existed):

* ``alloc_fraction`` — share of the UTC hour during which the VM existed
  (created → deleted, from the inventory lifecycle). A VM created at 10:20 has
  a 10:00 row with alloc_fraction 40/60; billing may prorate with it or bill
  per started hour (alloc_fraction > 0).
* allocation (vcpu, mem_gb, storage per tier) — the VM's last non-deleted
  inventory state before the end of the hour (a resize at 10:20 counts for the
  whole 10:00 hour).
* ``samples`` — samples in the hour; ``expected_samples`` =
  round(3600 × alloc_fraction / interval); ``coverage`` = min(1, samples /
  expected_samples). The interval is what the collector **declared** on its
  batches (``interval_s`` on the wire, stored per sample): a collector sampling
  every 300 s is expected 12 times an hour. An hour without a declared sample
  (a gap, or an old collector) uses the policy's ``expected_sample_interval_s``.
* ``cpu_avg``/``mem_avg`` — mean of the samples (summed in milli-percent
  integers, so it is exact and order-independent); ``*_max``; ``*_p95`` =
  ``quantileExact(0.95)`` of the samples. NULL when the hour has no sample.
* ``storage_used_gb`` — sum over the VM's disks of each disk's last sample in
  the hour; NULL when no disk was sampled.
* ``business_weight`` — from ``hour_weights`` (business fraction × 1 +
  (1 − fraction) × off_hours_weight).

Tombstones: a key written earlier that a recompute no longer produces (a late
"deleted" event shortened the VM's life) is overwritten with alloc_fraction = 0
(usage_hourly) / hours = 0 (usage_daily) and no measures. **Readers filter
``alloc_fraction > 0`` and ``hours > 0``.**

Samples of a VM the inventory does not know (or outside its lifetime) are not
rolled up: a VM-hour row needs an owner (bureau, system, pool, provider).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np

from cloudtally.core.calendar import (
    DAY,
    HOUR,
    BusinessCalendar,
    CalendarPolicy,
    OfficialCalendar,
    night_fractions,
)
from cloudtally.core.idle import UtilizationPolicy
from cloudtally.store.base import Store

VmIds = Sequence[str] | None


def new_version() -> int:
    """Row version: wall-clock nanoseconds (a later recompute always wins)."""
    return time.time_ns()


def _vm_filter(column: str, vm_ids: VmIds) -> tuple[str, dict[str, object]]:
    if vm_ids is None:
        return "1", {}
    return f"{column} IN %(vms)s", {"vms": tuple(sorted(set(vm_ids)))}


def _check_hours(hour_from: int, hour_to: int) -> tuple[int, int]:
    h0, h1 = int(hour_from), int(hour_to)
    if h0 % HOUR or h1 % HOUR:
        raise ValueError("hour_from and hour_to must be hour-aligned epoch seconds")
    if h1 < h0:
        raise ValueError("hour_to before hour_from")
    return h0, h1


# -- hour weights -------------------------------------------------------------------------


def ensure_hour_weights(
    store: Store,
    calendar: CalendarPolicy,
    hour_from: int,
    hour_to: int,
    *,
    policy_version: str | None = None,
    official: OfficialCalendar | None = None,
) -> int:
    """Make ``hour_weights`` hold this calendar's weights for [hour_from, hour_to).

    Returns the number of rows written (0 when they were already there).
    ``policy_version`` defaults to the fingerprint of the windows and of the
    official schedule of the years involved; a new calendar (or a newly supplied
    year) rewrites the hours with a higher version (then recompute the rollups).
    Hours of a year without an official schedule get the weekday rule and
    ``provisional = 1``.
    """
    h0, h1 = _check_hours(hour_from, hour_to)
    n = (h1 - h0) // HOUR
    if n == 0:
        return 0
    cal = BusinessCalendar(calendar, official)
    pv = policy_version or cal.fingerprint(h0, h1)
    present = store.scalar(
        "SELECT count() FROM hour_weights FINAL WHERE hour >= toDateTime(%(h0)s, 'UTC') "
        "AND hour < toDateTime(%(h1)s, 'UTC') AND policy_version = %(pv)s",
        {"h0": h0, "h1": h1, "pv": pv},
    )
    if int(present or 0) == n:
        return 0
    fractions = cal.business_fractions(h0, h1)
    weights = fractions + (1.0 - fractions) * calendar.off_hours_weight
    return store.insert(
        "hour_weights",
        {
            "hour": np.arange(h0, h1, HOUR, dtype=np.int64),
            "weight": weights.astype(np.float32),
            "business_fraction": fractions.astype(np.float32),
            "provisional": cal.provisional(h0, h1).astype(np.uint8),
            "policy_version": [pv] * n,
            "version": np.full(n, new_version(), dtype=np.uint64),
        },
    )


# -- usage_hourly -------------------------------------------------------------------------

# Per VM: its inventory events before the end of the period, as arrays sorted by time.
_LIFECYCLE = """
    SELECT
        vm_id,
        arraySort(groupArray(toUInt32(event_ts))) AS ts,
        arraySort((x, t) -> t, groupArray(toInt8(event)), groupArray(event_ts)) AS ev,
        arraySort((x, t) -> t, groupArray(bureau), groupArray(event_ts)) AS a_bureau,
        arraySort((x, t) -> t, groupArray(system), groupArray(event_ts)) AS a_system,
        arraySort((x, t) -> t, groupArray(pool), groupArray(event_ts)) AS a_pool,
        arraySort((x, t) -> t, groupArray(provider), groupArray(event_ts)) AS a_provider,
        arraySort((x, t) -> t, groupArray(vcpu), groupArray(event_ts)) AS a_vcpu,
        arraySort((x, t) -> t, groupArray(mem_gb), groupArray(event_ts)) AS a_mem,
        arraySort((x, t) -> t, groupArray(sp), groupArray(event_ts)) AS a_sp,
        arraySort((x, t) -> t, groupArray(ss), groupArray(event_ts)) AS a_ss,
        arraySort((x, t) -> t, groupArray(sa), groupArray(event_ts)) AS a_sa
    FROM (
        SELECT vm_id, event_ts, event, bureau, system, pool, provider, vcpu, mem_gb,
            toFloat64(arraySum(arrayFilter((s, t) -> t = 'performance',
                arrayMap(x -> toFloat64(x), disk_size_gb), disk_tiers))) AS sp,
            toFloat64(arraySum(arrayFilter((s, t) -> t = 'standard',
                arrayMap(x -> toFloat64(x), disk_size_gb), disk_tiers))) AS ss,
            toFloat64(arraySum(arrayFilter((s, t) -> t = 'archive',
                arrayMap(x -> toFloat64(x), disk_size_gb), disk_tiers))) AS sa
        FROM vm_inventory FINAL
        WHERE {vm_filter} AND event_ts < toDateTime(%(h1)s, 'UTC')
    )
    GROUP BY vm_id
"""

# Per VM-hour of existence: owner and allocation as of the end of the hour.
_ALLOC = (
    """
    SELECT vm_id, toDateTime(h, 'UTC') AS hour,
        a_bureau[k] AS bureau, a_system[k] AS system, a_pool[k] AS pool,
        a_provider[k] AS provider, a_vcpu[k] AS vcpu, a_mem[k] AS mem_gb,
        a_sp[k] AS sp, a_ss[k] AS ss, a_sa[k] AS sa, frac
    FROM (
        SELECT vm_id, ts, ev, a_bureau, a_system, a_pool, a_provider, a_vcpu, a_mem,
            a_sp, a_ss, a_sa, h,
            -- No lambda captures a column (18.16 cannot resolve captured columns in
            -- subqueries): the hour travels into the lambdas as replicate(h, ts).
            arraySum(arrayMap((s, e, v, hh) -> if(v = 3, 0, greatest(0,
                toInt64(least(e, hh + 3600)) - toInt64(greatest(s, hh)))),
                ts, arrayPushBack(arrayPopFront(ts), toUInt32(4294967295)), ev,
                replicate(h, ts))) / 3600 AS frac,
            length(ts) + 1 - arrayFirstIndex((t, e, hh) -> t < hh + 3600 AND e != 3,
                arrayReverse(ts), arrayReverse(ev), replicate(h, ts)) AS k
        FROM ("""
    + _LIFECYCLE
    + """)
        ARRAY JOIN arrayMap(i -> toUInt32(%(h0)s + i * 3600), range(%(nh)s)) AS h
    )
    WHERE frac > 0
"""
)

_CPU = """
    SELECT vm_id, toStartOfHour(ts) AS hour, count() AS n, max(interval_s) AS declared,
        sum(toInt64(round(cpu_pct * 1000))) AS cpu_sum,
        max(cpu_pct) AS c_max, quantileExact(0.95)(cpu_pct) AS c_p95,
        sum(toInt64(round(mem_pct * 1000))) AS mem_sum,
        max(mem_pct) AS m_max, quantileExact(0.95)(mem_pct) AS m_p95
    FROM samples FINAL
    WHERE {vm_filter} AND ts >= toDateTime(%(h0)s, 'UTC') AND ts < toDateTime(%(h1)s, 'UTC')
    GROUP BY vm_id, hour
"""

_DISK = """
    SELECT vm_id, hour, count() AS disks, sum(used_mgb) AS used_mgb
    FROM (
        SELECT vm_id, disk_id, toStartOfHour(ts) AS hour,
            toInt64(round(argMax(used_gb, ts) * 1000)) AS used_mgb
        FROM disk_samples FINAL
        WHERE {vm_filter} AND ts >= toDateTime(%(h0)s, 'UTC') AND ts < toDateTime(%(h1)s, 'UTC')
        GROUP BY vm_id, disk_id, hour
    )
    GROUP BY vm_id, hour
"""

_WEIGHTS = """
    SELECT hour, weight, provisional
    FROM hour_weights FINAL
    WHERE hour >= toDateTime(%(h0)s, 'UTC') AND hour < toDateTime(%(h1)s, 'UTC')
"""

HOURLY_COLUMNS = (
    "vm_id, hour, bureau, system, pool, provider, vcpu, mem_gb, storage_gb_performance, "
    "storage_gb_standard, storage_gb_archive, alloc_fraction, storage_used_gb, disks_sampled, "
    "samples, expected_samples, coverage, cpu_avg, cpu_max, cpu_p95, mem_avg, mem_max, "
    "mem_p95, business_weight, calendar_provisional, version"
)

_HOURLY_INSERT = (
    "INSERT INTO usage_hourly ("
    + HOURLY_COLUMNS
    + """)
SELECT vm_id, hour, bureau, system, pool, provider, vcpu, mem_gb,
    toDecimal64(sp, 3) AS storage_gb_performance,
    toDecimal64(ss, 3) AS storage_gb_standard,
    toDecimal64(sa, 3) AS storage_gb_archive,
    toFloat32(frac) AS alloc_fraction,
    if(disks > 0, toNullable(used_mgb / 1000), NULL) AS storage_used_gb,
    toUInt16(disks) AS disks_sampled,
    toUInt16(n) AS samples,
    toUInt16(round(frac * 3600 / if(declared > 0, declared, %(interval)s))) AS expected_samples,
    toFloat32(if(expected_samples = 0, if(n > 0, 1, 0), least(1, n / expected_samples)))
        AS coverage,
    if(n > 0, toNullable(toFloat32(cpu_sum / n / 1000)), NULL) AS cpu_avg,
    if(n > 0, toNullable(toFloat32(c_max)), NULL) AS cpu_max,
    if(n > 0, toNullable(toFloat32(c_p95)), NULL) AS cpu_p95,
    if(n > 0, toNullable(toFloat32(mem_sum / n / 1000)), NULL) AS mem_avg,
    if(n > 0, toNullable(toFloat32(m_max)), NULL) AS mem_max,
    if(n > 0, toNullable(toFloat32(m_p95)), NULL) AS mem_p95,
    toFloat32(weight) AS business_weight,
    toUInt8(provisional) AS calendar_provisional,
    toUInt64(%(version)s) AS version
FROM (
    SELECT * FROM (
        SELECT * FROM ("""
    + _ALLOC
    + """) AS alloc ANY LEFT JOIN ("""
    + _CPU
    + """) AS cpu USING (vm_id, hour)
    ) AS alloc_cpu ANY LEFT JOIN ("""
    + _DISK
    + """) AS disk USING (vm_id, hour)
) AS vm_hours ANY LEFT JOIN ("""
    + _WEIGHTS
    + """) AS weights USING (hour)
"""
)


# A key written before but not by this recompute (its FINAL row has an older version)
# no longer exists — e.g. a late "deleted" inventory event. Overwrite it with a
# tombstone: alloc_fraction = 0, no samples, NULL measures. Readers filter
# ``alloc_fraction > 0`` (usage_hourly) and ``hours > 0`` (usage_daily).
_HOURLY_TOMBSTONES = """
INSERT INTO usage_hourly (vm_id, hour, bureau, system, pool, provider, business_weight,
    alloc_fraction, version)
SELECT vm_id, hour, bureau, system, pool, provider, business_weight, toFloat32(0),
    toUInt64(%(version)s)
FROM usage_hourly FINAL
WHERE {vm_filter} AND hour >= toDateTime(%(h0)s, 'UTC') AND hour < toDateTime(%(h1)s, 'UTC')
    AND version < %(version)s AND alloc_fraction > 0
"""

_DAILY_TOMBSTONES = """
INSERT INTO usage_daily (vm_id, day, bureau, system, pool, provider, hours, version)
SELECT vm_id, day, bureau, system, pool, provider, toUInt8(0), toUInt64(%(version)s)
FROM usage_daily FINAL
WHERE {vm_filter} AND day >= %(d0)s AND day < %(d1)s AND version < %(version)s AND hours > 0
"""


def recompute_hours(
    store: Store,
    vm_ids: VmIds,
    hour_from: int,
    hour_to: int,
    calendar: CalendarPolicy | None = None,
    utilization: UtilizationPolicy | None = None,
    official: OfficialCalendar | None = None,
) -> int:
    """Recompute ``usage_hourly`` for these VMs (None = every VM) and UTC hours [from, to).

    One INSERT … SELECT for the whole batch. Ensures ``hour_weights`` first.
    Returns the number of VM-hour rows now current for those keys.
    """
    h0, h1 = _check_hours(hour_from, hour_to)
    if h1 == h0 or (vm_ids is not None and len(vm_ids) == 0):
        return 0
    cal = calendar or CalendarPolicy()
    util = utilization or UtilizationPolicy()
    ensure_hour_weights(store, cal, h0, h1, official=official)
    vm_filter, params = _vm_filter("vm_id", vm_ids)
    params |= {
        "h0": h0,
        "h1": h1,
        "nh": (h1 - h0) // HOUR,
        "interval": util.expected_sample_interval_s,
        "version": new_version(),
    }
    store.execute(_HOURLY_INSERT.replace("{vm_filter}", vm_filter), params)
    store.execute(_HOURLY_TOMBSTONES.replace("{vm_filter}", vm_filter), params)
    return int(
        store.scalar(
            "SELECT count() FROM usage_hourly FINAL WHERE alloc_fraction > 0 AND "
            + vm_filter
            + " AND hour >= toDateTime(%(h0)s, 'UTC') AND hour < toDateTime(%(h1)s, 'UTC')",
            params,
        )
        or 0
    )


# -- usage_daily ----------------------------------------------------------------------------


def _sorted_sum(expr: str, cond: str = "1") -> str:
    """Order-independent float sum: deterministic whatever the threads did."""
    return f"arraySum(arraySort(groupArrayIf(toFloat64({expr}), {cond})))"


def _daily_insert() -> str:
    """usage_daily from usage_hourly. Inner aliases are prefixed ``d_`` so that they
    never shadow the hourly columns they aggregate."""
    sampled = "samples > 0"
    disk = "disks_sampled > 0"
    cpu_cap = "toFloat64(vcpu) * alloc_fraction"
    mem_cap = "toFloat64(mem_gb) * alloc_fraction"
    store_cap = (
        "(toFloat64(storage_gb_performance) + toFloat64(storage_gb_standard)"
        " + toFloat64(storage_gb_archive)) * alloc_fraction"
    )
    night = "%(night)s[toHour(hour, %(tz)s) + 1]"
    weights = (("all", "1"), ("day", "business_weight"), ("night", night))

    inner = [
        "toDate(hour, %(tz)s) AS d_day",
        "argMax(bureau, hour) AS d_bureau",
        "argMax(system, hour) AS d_system",
        "argMax(pool, hour) AS d_pool",
        "argMax(provider, hour) AS d_provider",
        "argMax(vcpu, hour) AS d_vcpu",
        "argMax(mem_gb, hour) AS d_mem_gb",
        "argMax(storage_gb_performance, hour) AS d_sp",
        "argMax(storage_gb_standard, hour) AS d_ss",
        "argMax(storage_gb_archive, hour) AS d_sa",
        "count() AS d_hours",
        "sum(calendar_provisional) AS d_cal_prov",
        f"{_sorted_sum('alloc_fraction')} AS d_alloc_hours",
        f"{_sorted_sum(cpu_cap)} AS d_vcpu_hours",
        f"{_sorted_sum(mem_cap)} AS d_mem_gb_hours",
        f"{_sorted_sum('toFloat64(storage_gb_performance) * alloc_fraction')} AS d_sph",
        f"{_sorted_sum('toFloat64(storage_gb_standard) * alloc_fraction')} AS d_ssh",
        f"{_sorted_sum('toFloat64(storage_gb_archive) * alloc_fraction')} AS d_sah",
        f"{_sorted_sum('business_weight * alloc_fraction')} AS d_business_hours",
        f"{_sorted_sum(f'{night} * alloc_fraction')} AS d_night_hours",
        "sum(samples) AS d_samples",
        "sum(expected_samples) AS d_expected",
        f"{_sorted_sum('business_weight * alloc_fraction * coverage')} AS d_day_cov_num",
        # Sample means from the hourly means weighted by their sample counts.
        f"{_sorted_sum('cpu_avg * samples', sampled)} AS d_cpu_sample_sum",
        f"{_sorted_sum('mem_avg * samples', sampled)} AS d_mem_sample_sum",
        "maxIf(cpu_max, samples > 0) AS d_cpu_max",
        "quantileExactIf(0.95)(cpu_p95, samples > 0) AS d_cpu_p95",
        "maxIf(mem_max, samples > 0) AS d_mem_max",
        "quantileExactIf(0.95)(mem_p95, samples > 0) AS d_mem_p95",
        f"{_sorted_sum('storage_used_gb * alloc_fraction', disk)} AS d_storage_num",
        f"{_sorted_sum('alloc_fraction', disk)} AS d_storage_hours",
        f"{_sorted_sum(store_cap, disk)} AS d_storage_den",
    ]
    for measure, cap, name in (("cpu_avg", cpu_cap, "cpu"), ("mem_avg", mem_cap, "mem")):
        for suffix, w in weights:
            inner.append(
                f"{_sorted_sum(f'{measure} * {cap} * {w}', sampled)} AS d_{name}_num_{suffix}"
            )
            inner.append(f"{_sorted_sum(f'{cap} * {w}', sampled)} AS d_{name}_den_{suffix}")

    def ratio(name: str, suffix: str) -> str:
        num, den = f"d_{name}_num_{suffix}", f"d_{name}_den_{suffix}"
        return f"if({den} > 0, toNullable(toFloat32({num} / {den})), NULL)"

    def nullable_if(expr: str, cond: str) -> str:
        return f"if({cond}, toNullable(toFloat32({expr})), NULL)"

    outer = [
        "vm_id",
        "d_day",
        "d_bureau",
        "d_system",
        "d_pool",
        "d_provider",
        "d_vcpu",
        "d_mem_gb",
        "d_sp",
        "d_ss",
        "d_sa",
        "toUInt8(d_hours)",
        "toUInt8(d_cal_prov)",
        "d_alloc_hours",
        "d_vcpu_hours",
        "d_mem_gb_hours",
        "d_sph",
        "d_ssh",
        "d_sah",
        "d_business_hours",
        "d_night_hours",
        "toUInt32(d_samples)",
        "toUInt32(d_expected)",
        "toFloat32(if(d_expected = 0, if(d_samples > 0, 1, 0), least(1, d_samples / d_expected)))",
        nullable_if("d_day_cov_num / d_business_hours", "d_business_hours > 0"),
        nullable_if("d_cpu_sample_sum / d_samples", "d_samples > 0"),
        nullable_if("d_cpu_max", "d_samples > 0"),
        nullable_if("d_cpu_p95", "d_samples > 0"),
        nullable_if("d_mem_sample_sum / d_samples", "d_samples > 0"),
        nullable_if("d_mem_max", "d_samples > 0"),
        nullable_if("d_mem_p95", "d_samples > 0"),
        ratio("cpu", "day"),
        ratio("cpu", "night"),
        ratio("mem", "day"),
        ratio("mem", "night"),
        *(
            f"d_{name}_{part}_{suffix}"
            for name in ("cpu", "mem")
            for suffix, _ in weights
            for part in ("num", "den")
        ),
        "if(d_storage_hours > 0, toNullable(d_storage_num / d_storage_hours), NULL)",
        "d_storage_num",
        "d_storage_den",
        "toUInt64(%(version)s)",
    ]
    return (
        f"INSERT INTO usage_daily ({DAILY_COLUMNS})\nSELECT "
        + ",\n    ".join(outer)
        + "\nFROM (\nSELECT vm_id, "
        + ",\n    ".join(inner)
        + "\nFROM usage_hourly FINAL\nWHERE alloc_fraction > 0 AND {vm_filter}"
        " AND hour >= toDateTime(%(h0)s, 'UTC')"
        " AND hour < toDateTime(%(h1)s, 'UTC')\nGROUP BY vm_id, d_day\n)"
    )


DAILY_COLUMNS = (
    "vm_id, day, bureau, system, pool, provider, vcpu, mem_gb, storage_gb_performance, "
    "storage_gb_standard, storage_gb_archive, hours, calendar_provisional_hours, alloc_hours, "
    "vcpu_hours, mem_gb_hours, "
    "storage_gb_hours_performance, storage_gb_hours_standard, storage_gb_hours_archive, "
    "business_hours, night_hours, samples, expected_samples, coverage, day_coverage, "
    "cpu_avg, cpu_max, cpu_p95, mem_avg, mem_max, mem_p95, cpu_day, cpu_night, mem_day, "
    "mem_night, cpu_num_all, cpu_den_all, cpu_num_day, cpu_den_day, cpu_num_night, "
    "cpu_den_night, mem_num_all, mem_den_all, mem_num_day, mem_den_day, mem_num_night, "
    "mem_den_night, storage_used_gb_avg, storage_num, storage_den, version"
)

_DAILY_INSERT = _daily_insert()

_DISK_DAILY_INSERT = """
INSERT INTO disk_usage_daily (vm_id, disk_id, day, tier, size_gb, samples, used_gb_avg,
    used_gb_max, used_pct, version)
SELECT vm_id, disk_id, day,
    if(pos > 0, a_tiers[k][pos], '') AS tier,
    if(pos > 0, a_sizes[k][pos], toDecimal64(0, 3)) AS size_gb,
    toUInt32(n) AS samples,
    used_sum / n / 1000 AS used_gb_avg,
    used_max AS used_gb_max,
    if(size_gb > 0, toNullable(toFloat32(100 * used_max / toFloat64(size_gb))), NULL)
        AS used_pct,
    toUInt64(%(version)s) AS version
FROM (
    SELECT vm_id, disk_id, day, n, used_sum, used_max, a_tiers, a_sizes, k,
        indexOf(a_ids[k], disk_id) AS pos
    FROM (
        SELECT vm_id, disk_id, day, n, used_sum, used_max, a_ids, a_tiers, a_sizes,
            length(ts) + 1 - arrayFirstIndex((t, e, d) -> t < d AND e != 3,
                arrayReverse(ts), arrayReverse(ev), replicate(day_end, ts)) AS k
        FROM (
          SELECT vm_id, disk_id, day, day_end, n, used_sum, used_max, ts, ev, a_ids, a_tiers,
            a_sizes
          FROM (
            SELECT vm_id, disk_id, toDate(d0, %(tz)s) AS day, toUInt32(d0) + 86400 AS day_end,
                count() AS n, sum(toInt64(round(used_gb * 1000))) AS used_sum,
                max(used_gb) AS used_max
            FROM (
                SELECT vm_id, disk_id, used_gb, toStartOfDay(ts, %(tz)s) AS d0
                FROM disk_samples FINAL
                WHERE {vm_filter} AND ts >= toDateTime(%(h0)s, 'UTC')
                    AND ts < toDateTime(%(h1)s, 'UTC')
            )
            GROUP BY vm_id, disk_id, d0
        ) AS disk_days ANY LEFT JOIN (
            SELECT vm_id,
                arraySort(groupArray(toUInt32(event_ts))) AS ts,
                arraySort((x, t) -> t, groupArray(toInt8(event)), groupArray(event_ts)) AS ev,
                arraySort((x, t) -> t, groupArray(disk_ids), groupArray(event_ts)) AS a_ids,
                arraySort((x, t) -> t, groupArray(disk_size_gb), groupArray(event_ts))
                    AS a_sizes,
                arraySort((x, t) -> t, groupArray(disk_tiers), groupArray(event_ts)) AS a_tiers
            FROM vm_inventory FINAL
            WHERE {vm_filter} AND event_ts < toDateTime(%(h1)s, 'UTC')
            GROUP BY vm_id
          ) AS lifecycle USING (vm_id)
        )
    )
)
"""


def local_day_bounds(day_from: dt.date, day_to: dt.date, timezone: str) -> tuple[int, int]:
    """UTC epochs of local midnight of day_from and of day_to (the period is [from, to))."""
    zone = ZoneInfo(timezone)
    start = dt.datetime.combine(day_from, dt.time(), zone)
    end = dt.datetime.combine(day_to, dt.time(), zone)
    return int(start.timestamp()), int(end.timestamp())


def recompute_days(
    store: Store,
    vm_ids: VmIds,
    day_from: dt.date,
    day_to: dt.date,
    calendar: CalendarPolicy | None = None,
    utilization: UtilizationPolicy | None = None,
) -> int:
    """Recompute ``usage_daily`` and ``disk_usage_daily`` for local days [day_from, day_to).

    Reads ``usage_hourly`` (recompute the hours first) and raw disk samples.
    Returns the number of VM-day rows now current for those keys.
    """
    if day_to <= day_from or (vm_ids is not None and len(vm_ids) == 0):
        return 0
    cal = calendar or CalendarPolicy()
    util = utilization or UtilizationPolicy()
    h0, h1 = local_day_bounds(day_from, day_to, cal.timezone)
    vm_filter, params = _vm_filter("vm_id", vm_ids)
    params |= {
        "h0": h0,
        "h1": h1,
        "tz": cal.timezone,
        "night": night_fractions(cal.timezone, util.night_hours),
        "version": new_version(),
        "d0": day_from,
        "d1": day_to,
    }
    store.execute(_DAILY_INSERT.replace("{vm_filter}", vm_filter), params)
    store.execute(_DAILY_TOMBSTONES.replace("{vm_filter}", vm_filter), params)
    store.execute(_DISK_DAILY_INSERT.replace("{vm_filter}", vm_filter), params)
    return int(
        store.scalar(
            "SELECT count() FROM usage_daily FINAL WHERE hours > 0 AND "
            + vm_filter
            + " AND day >= %(d0)s AND day < %(d1)s",
            params,
        )
        or 0
    )


# -- helpers for the worker -----------------------------------------------------------------


@dataclass(frozen=True)
class Touched:
    """What a flushed batch touched: recompute these VMs over [hour_from, hour_to)."""

    vm_ids: tuple[str, ...]
    hour_from: int
    hour_to: int

    def days(self, timezone: str = "Asia/Shanghai") -> tuple[dt.date, dt.date]:
        """Local days [from, to) covering the touched hours."""
        zone = ZoneInfo(timezone)
        first = dt.datetime.fromtimestamp(self.hour_from, zone).date()
        last = dt.datetime.fromtimestamp(self.hour_to - 1, zone).date()
        return first, last + dt.timedelta(days=1)


def touched_hours(vm_id: np.ndarray | Iterable[str], ts: np.ndarray) -> Touched | None:
    """Distinct VMs and the hour range [first hour, last hour + 1h) of a sample batch."""
    ts = np.asarray(ts, dtype=np.int64)
    if ts.size == 0:
        return None
    ids = np.unique(np.asarray(list(vm_id) if not isinstance(vm_id, np.ndarray) else vm_id))
    lo = int(ts.min()) // HOUR * HOUR
    hi = int(ts.max()) // HOUR * HOUR + HOUR
    return Touched(tuple(str(v) for v in ids), lo, hi)


def hours_of_days(day_from: dt.date, day_to: dt.date, timezone: str) -> tuple[int, int]:
    """UTC hour range [from, to) covering local days [day_from, day_to)."""
    h0, h1 = local_day_bounds(day_from, day_to, timezone)
    return h0 // HOUR * HOUR, -(-h1 // HOUR) * HOUR


__all__ = [
    "DAILY_COLUMNS",
    "HOURLY_COLUMNS",
    "Touched",
    "ensure_hour_weights",
    "hours_of_days",
    "local_day_bounds",
    "new_version",
    "recompute_days",
    "recompute_hours",
    "touched_hours",
]

_ = DAY
