"""Utilization queries behind the API: plain dicts ready for JSON, in a stable order.

Every function takes ``bureau_scope`` (``Principal.scope``): when given, every
row read is restricted to that bureau — the access rule lives here, not in the
routes. Periods are local days [day_from, day_to) of the policy timezone, read
from ``usage_daily``; utilization is the capacity-weighted definition of
:mod:`cloudtally.core.utilization`, re-aggregated exactly from the stored sums.
List results are ``{"total": n, "items": [...]}`` with ``limit``/``offset``.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any, Literal

from cloudtally.analytics.rollups import _sorted_sum, local_day_bounds
from cloudtally.core.calendar import CalendarPolicy
from cloudtally.core.idle import (
    DiskMonthStats,
    UnitPrices,
    UtilizationPolicy,
    VmWindowStats,
    idle_candidates,
    month_start,
    rightsizing_candidates,
    rightsizing_prefilter,
    storage_idle_candidates,
    storage_months,
)
from cloudtally.core.kpi import pool_kpi
from cloudtally.core.utilization import UtilizationSplit, is_night_heavy
from cloudtally.queries import memo
from cloudtally.store.base import Store

Level = Literal["vm", "system", "bureau", "pool", "provider"]
LEVEL_KEYS: dict[str, tuple[str, ...]] = {
    "vm": ("vm_id",),
    "system": ("bureau", "system"),
    "bureau": ("bureau",),
    "pool": ("provider", "pool"),
    "provider": ("provider",),
}
FILTERS = ("vm_id", "bureau", "system", "pool", "provider")
MAX_LIMIT = 10_000


def _where(
    bureau_scope: str | None, filters: Mapping[str, str | None] | None
) -> tuple[str, dict[str, Any]]:
    """WHERE fragment for the access scope and the equality filters."""
    parts: list[str] = []
    params: dict[str, Any] = {}
    if bureau_scope is not None:
        parts.append("bureau = %(scope)s")
        params["scope"] = bureau_scope
    for name, value in (filters or {}).items():
        if name not in FILTERS:
            raise ValueError(f"unknown filter {name!r}; use one of {', '.join(FILTERS)}")
        if value is not None:
            parts.append(f"{name} = %(f_{name})s")
            params[f"f_{name}"] = value
    return (" AND ".join(parts) or "1"), params


def _page(limit: int, offset: int) -> tuple[int, int]:
    if not 0 < limit <= MAX_LIMIT or offset < 0:
        raise ValueError(f"limit must be 1..{MAX_LIMIT} and offset ≥ 0")
    return limit, offset


def _plain(value: Any) -> Decimal:
    """Decimal without trailing zeros or exponent: 16.000 → 16, 0.500 → 0.5."""
    d = Decimal(value)
    return d.quantize(Decimal(1)) if d == d.to_integral_value() else d.normalize()


def _ratio(num: float, den: float, scale: float = 1.0) -> float | None:
    return None if den <= 0 else round(num / den * scale, 4)


# -- utilization by vm / system / bureau / pool / provider ------------------------------------


def utilization(
    store: Store,
    level: Level,
    day_from: dt.date,
    day_to: dt.date,
    *,
    bureau_scope: str | None = None,
    filters: Mapping[str, str | None] | None = None,
    limit: int = 100,
    offset: int = 0,
    policy: UtilizationPolicy | None = None,
) -> dict[str, Any]:
    """CPU and memory utilization (day / all / night) per entity over local days [from, to)."""
    if level not in LEVEL_KEYS:
        raise ValueError(f"unknown level {level!r}; use one of {', '.join(LEVEL_KEYS)}")
    limit, offset = _page(limit, offset)
    util = policy or UtilizationPolicy()
    keys = LEVEL_KEYS[level]
    where, params = _where(bureau_scope, filters)
    params |= {"d0": day_from, "d1": day_to}
    key_sql = ", ".join(keys)
    owner = (
        "argMax(bureau, day) AS o_bureau, argMax(system, day) AS o_system, "
        "argMax(pool, day) AS o_pool, argMax(provider, day) AS o_provider, "
        "argMax(vcpu, day) AS o_vcpu, argMax(mem_gb, day) AS o_mem_gb, "
        if level == "vm"
        else ""
    )
    sums = ", ".join(
        f"{_sorted_sum(f'{m}_{p}_{s}')} AS {m}_{p}_{s}"
        for m in ("cpu", "mem")
        for s in ("all", "day", "night")
        for p in ("num", "den")
    )
    base = f"FROM usage_daily FINAL WHERE hours > 0 AND day >= %(d0)s AND day < %(d1)s AND {where}"
    sql = f"""
        SELECT {key_sql}, {owner}
            uniqExact(vm_id) AS vms, sum(samples) AS n, sum(expected_samples) AS expected,
            {_sorted_sum("vcpu_hours")} AS vcpu_h, {_sorted_sum("mem_gb_hours")} AS mem_h,
            {_sorted_sum("business_hours")} AS bus_h,
            {_sorted_sum("day_coverage * business_hours", "business_hours > 0")} AS bus_cov,
            sum(calendar_provisional_hours) AS cal_prov,
            {sums}
        {base}
        GROUP BY {key_sql}
        ORDER BY {key_sql}
        LIMIT {offset}, {limit}
    """
    total = store.scalar(
        f"SELECT count() FROM (SELECT {key_sql} {base} GROUP BY {key_sql})", params
    )
    items = []
    for r in store.dicts(sql, params):
        cpu = UtilizationSplit(
            day=_ratio(r["cpu_num_day"], r["cpu_den_day"]),
            all=_ratio(r["cpu_num_all"], r["cpu_den_all"]),
            night=_ratio(r["cpu_num_night"], r["cpu_den_night"]),
        )
        mem = UtilizationSplit(
            day=_ratio(r["mem_num_day"], r["mem_den_day"]),
            all=_ratio(r["mem_num_all"], r["mem_den_all"]),
            night=_ratio(r["mem_num_night"], r["mem_den_night"]),
        )
        item: dict[str, Any] = {k: r[k] for k in keys}
        if level == "vm":
            item |= {
                "bureau": r["o_bureau"],
                "system": r["o_system"],
                "pool": r["o_pool"],
                "provider": r["o_provider"],
                "vcpu": int(r["o_vcpu"]),
                "mem_gb": str(r["o_mem_gb"]),
            }
        item |= {
            "day_from": day_from.isoformat(),
            "day_to": day_to.isoformat(),
            "vms": int(r["vms"]),
            "cpu": cpu.as_dict(),
            "mem": mem.as_dict(),
            "night_heavy": is_night_heavy(cpu, util.night_heavy_ratio, util.night_heavy_min_pct)
            or is_night_heavy(mem, util.night_heavy_ratio, util.night_heavy_min_pct),
            "samples": int(r["n"]),
            "coverage": _ratio(min(r["n"], r["expected"]), r["expected"]),
            "day_coverage": _ratio(r["bus_cov"], r["bus_h"]),
            "vcpu_hours": round(r["vcpu_h"], 3),
            "mem_gb_hours": round(r["mem_h"], 3),
            # VM-hours weighted by the weekday rule (no official calendar for the year):
            # the daytime figure is provisional until the year's schedule is supplied.
            "calendar_provisional_hours": int(r["cal_prov"]),
        }
        items.append(item)
    return {"total": int(total or 0), "items": items}


# -- pool KPIs --------------------------------------------------------------------------------


def pool_kpis(
    store: Store,
    month: dt.date,
    *,
    level: Literal["pool", "provider"] = "pool",
    bureau_scope: str | None = None,
    filters: Mapping[str, str | None] | None = None,
    policy: UtilizationPolicy | None = None,
    tariff_pools: Sequence[tuple[str, str]] = (),
) -> dict[str, Any]:
    """CPU, memory, storage utilization (all hours) per pool or provider for one month,
    with the pool utilization (their mean) and both evaluation scores.

    ``tariff_pools`` — (provider, pool) pairs of the contract: one without any usage in
    the month is listed too, with ``no_data`` and the lowest band (the evaluation rule:
    no evidence counts as the lowest band). Kept until the month's daily rollups change."""
    if level not in ("pool", "provider"):
        raise ValueError("level must be pool or provider")
    m0, m1 = month_start(month), month_start(month, -1)
    current = memo.stamp(store, "usage_daily", "day >= %(d0)s AND day < %(d1)s",
                         {"d0": m0, "d1": m1})  # fmt: skip
    key = ("pool_kpis", m0, level, bureau_scope, tuple(sorted((filters or {}).items())),
           repr(policy), tuple(tariff_pools))  # fmt: skip
    kept = memo.cached(store, key, current, lambda: _pool_kpis(
        store, month, level=level, bureau_scope=bureau_scope, filters=filters, policy=policy,
        tariff_pools=tariff_pools))  # fmt: skip
    return copy.deepcopy(kept)  # callers add to the rows (the console's chart)


def _pool_kpis(
    store: Store,
    month: dt.date,
    *,
    level: Literal["pool", "provider"],
    bureau_scope: str | None,
    filters: Mapping[str, str | None] | None,
    policy: UtilizationPolicy | None,
    tariff_pools: Sequence[tuple[str, str]],
) -> dict[str, Any]:
    util = policy or UtilizationPolicy()
    keys = LEVEL_KEYS[level]
    first = month_start(month)
    where, params = _where(bureau_scope, filters)
    params |= {"d0": first, "d1": month_start(first, -1)}
    key_sql = ", ".join(keys)
    rows = store.dicts(
        f"""
        SELECT {key_sql}, uniqExact(vm_id) AS vms,
            sum(samples) AS n, sum(expected_samples) AS expected,
            {_sorted_sum("cpu_num_all")} AS cpu_num, {_sorted_sum("cpu_den_all")} AS cpu_den,
            {_sorted_sum("mem_num_all")} AS mem_num, {_sorted_sum("mem_den_all")} AS mem_den,
            {_sorted_sum("storage_num")} AS st_num, {_sorted_sum("storage_den")} AS st_den
        FROM usage_daily FINAL
        WHERE hours > 0 AND day >= %(d0)s AND day < %(d1)s AND {where}
        GROUP BY {key_sql}
        ORDER BY {key_sql}
        """,
        params,
    )
    items = []
    for r in rows:
        cpu = _ratio(r["cpu_num"], r["cpu_den"])
        mem = _ratio(r["mem_num"], r["mem_den"])
        storage = _ratio(r["st_num"], r["st_den"], 100.0)
        kpi = pool_kpi(cpu, mem, storage, util.scores)
        items.append(
            {k: r[k] for k in keys}
            | {
                "month": first.isoformat()[:7],
                "vms": int(r["vms"]),
                "coverage": _ratio(min(r["n"], r["expected"]), r["expected"]),
            }
            | kpi.as_dict()
        )
    seen = {tuple(item[k] for k in keys) for item in items}
    wanted = {k: v for k, v in (filters or {}).items() if v is not None}
    for prov, pool in tariff_pools if bureau_scope is None else ():
        entity = {"provider": prov, "pool": pool}
        key = tuple(entity[k] for k in keys)
        if key in seen or any(entity.get(k, v) != v for k, v in wanted.items()):
            continue
        seen.add(key)
        empty = pool_kpi(None, None, None, util.scores)
        items.append(
            {k: entity[k] for k in keys}
            | {"month": first.isoformat()[:7], "vms": 0, "coverage": None}
            | empty.as_dict()
            | {"no_data": True}
        )
    items.sort(key=lambda item: tuple(str(item[k]) for k in keys))
    return {"total": len(items), "items": items}


# -- candidates -----------------------------------------------------------------------------


def night_heavy(s: VmWindowStats, util: UtilizationPolicy) -> bool:
    """The night-heavy flag of the utilization API, for a VM's window figures."""
    cpu = UtilizationSplit(day=s.cpu_day, all=s.cpu_all, night=s.cpu_night)
    mem = UtilizationSplit(day=s.mem_day, all=s.mem_all, night=s.mem_night)
    return is_night_heavy(cpu, util.night_heavy_ratio, util.night_heavy_min_pct) or (
        is_night_heavy(mem, util.night_heavy_ratio, util.night_heavy_min_pct)
    )


def _vm_window_stats(
    store: Store, day_from: dt.date, day_to: dt.date, where: str, params: dict[str, Any]
) -> list[VmWindowStats]:
    """Per-VM aggregates over local days [from, to), for VMs that exist on the last day.

    Kept (:mod:`cloudtally.queries.memo`) until the window's daily rollups change."""
    window = {"d0": day_from, "d1": day_to}
    current = memo.stamp(store, "usage_daily", "day >= %(d0)s AND day < %(d1)s", window)
    key = ("vm_window_stats", day_from, day_to, where, tuple(sorted(params.items())))
    return memo.cached(
        store, key, current, lambda: _window_stats(store, day_from, day_to, where, params)
    )


def _window_stats(
    store: Store, day_from: dt.date, day_to: dt.date, where: str, params: dict[str, Any]
) -> list[VmWindowStats]:
    rows = store.dicts(
        f"""
        SELECT vm_id,
            argMax(bureau, day) AS o_bureau, argMax(system, day) AS o_system,
            argMax(pool, day) AS o_pool, argMax(provider, day) AS o_provider,
            argMax(vcpu, day) AS o_vcpu, argMax(mem_gb, day) AS o_mem_gb,
            max(day) AS last_day, sum(samples) AS n, sum(expected_samples) AS expected,
            {_sorted_sum("alloc_hours")} AS life_h,
            {_sorted_sum("cpu_avg * samples", "samples > 0")} AS cpu_sum,
            {_sorted_sum("mem_avg * samples", "samples > 0")} AS mem_sum,
            maxIf(cpu_max, samples > 0) AS c_max, maxIf(mem_max, samples > 0) AS m_max,
            {_sorted_sum("cpu_num_day")} AS cpu_num, {_sorted_sum("cpu_den_day")} AS cpu_den,
            {_sorted_sum("mem_num_day")} AS mem_num, {_sorted_sum("mem_den_day")} AS mem_den,
            {_sorted_sum("cpu_num_all")} AS cpu_num_a, {_sorted_sum("cpu_den_all")} AS cpu_den_a,
            {_sorted_sum("mem_num_all")} AS mem_num_a, {_sorted_sum("mem_den_all")} AS mem_den_a,
            {_sorted_sum("cpu_num_night")} AS cpu_num_n,
            {_sorted_sum("cpu_den_night")} AS cpu_den_n,
            {_sorted_sum("mem_num_night")} AS mem_num_n,
            {_sorted_sum("mem_den_night")} AS mem_den_n,
            {_sorted_sum("business_hours")} AS bus_h,
            {_sorted_sum("day_coverage * business_hours", "business_hours > 0")} AS bus_cov
        FROM usage_daily FINAL
        WHERE hours > 0 AND day >= %(d0)s AND day < %(d1)s AND {where}
        GROUP BY vm_id
        HAVING last_day = %(last)s
        ORDER BY vm_id
        """,
        params | {"d0": day_from, "d1": day_to, "last": day_to - dt.timedelta(days=1)},
    )
    out = []
    for r in rows:
        n = int(r["n"])
        out.append(
            VmWindowStats(
                vm_id=r["vm_id"],
                bureau=r["o_bureau"],
                system=r["o_system"],
                pool=r["o_pool"],
                provider=r["o_provider"],
                vcpu=int(r["o_vcpu"]),
                mem_gb=_plain(r["o_mem_gb"]),
                samples=n,
                cpu_avg=r["cpu_sum"] / n if n else None,
                mem_avg=r["mem_sum"] / n if n else None,
                cpu_max=float(r["c_max"]) if n else None,
                mem_max=float(r["m_max"]) if n else None,
                cpu_day=_ratio(r["cpu_num"], r["cpu_den"]),
                mem_day=_ratio(r["mem_num"], r["mem_den"]),
                day_coverage=_ratio(r["bus_cov"], r["bus_h"]),
                alloc_hours=float(r["life_h"]),
                expected_samples=int(r["expected"]),
                cpu_all=_ratio(r["cpu_num_a"], r["cpu_den_a"]),
                mem_all=_ratio(r["mem_num_a"], r["mem_den_a"]),
                cpu_night=_ratio(r["cpu_num_n"], r["cpu_den_n"]),
                mem_night=_ratio(r["mem_num_n"], r["mem_den_n"]),
            )
        )
    return out


def _paged(candidates: list[Any], limit: int, offset: int, **extra: Any) -> dict[str, Any]:
    limit, offset = _page(limit, offset)
    return {
        "total": len(candidates),
        "items": [c.as_dict() for c in candidates[offset : offset + limit]],
        **extra,
    }


def find_idle(
    store: Store,
    as_of: dt.date,
    *,
    policy: UtilizationPolicy | None = None,
    bureau_scope: str | None = None,
    filters: Mapping[str, str | None] | None = None,
    limit: int = 100,
    offset: int = 0,
    prices: Callable[[VmWindowStats], UnitPrices | None] | None = None,
) -> dict[str, Any]:
    """Idle-reclaim candidates over the ``idle.window_days`` local days before ``as_of``
    (with ``prices``: what reclaiming each would save a year)."""
    util = policy or UtilizationPolicy()
    start = as_of - dt.timedelta(days=util.idle.window_days)
    where, params = _where(bureau_scope, filters)
    stats = _vm_window_stats(store, start, as_of, where, params)
    found = idle_candidates(
        stats,
        util.idle,
        window_start=start,
        window_end=as_of,
        sample_interval_s=util.expected_sample_interval_s,
        prices=prices,
    )
    return _paged(
        found, limit, offset, window={"start": start.isoformat(), "end": as_of.isoformat()}
    )


def find_rightsizing(
    store: Store,
    day_from: dt.date,
    day_to: dt.date,
    prices: UnitPrices | Callable[[VmWindowStats], UnitPrices],
    *,
    policy: UtilizationPolicy | None = None,
    calendar: CalendarPolicy | None = None,
    bureau_scope: str | None = None,
    filters: Mapping[str, str | None] | None = None,
    limit: int = 100,
    offset: int = 0,
) -> dict[str, Any]:
    """Downsize candidates over local days [from, to) (default review: ``review_quarter``).

    Daytime p95 comes from usage_hourly: the business-weighted 95th percentile of
    hourly CPU p95 × vCPU (used vCPUs) and memory p95 × GB (used GB).
    """
    util = policy or UtilizationPolicy()
    cal = calendar or CalendarPolicy()
    rule = util.rightsizing
    where, params = _where(bureau_scope, filters)
    stats = _vm_window_stats(store, day_from, day_to, where, params)
    eligible = rightsizing_prefilter(stats, rule)
    p95: dict[str, tuple[float, float, float, float]] = {}
    if eligible:
        h0, h1 = local_day_bounds(day_from, day_to, cal.timezone)
        # The daily rollups of a day are rewritten whenever its hours are (the rollup step
        # recomputes the days of every hour it recomputed): their stamp covers the hours,
        # at a fraction of the cost of scanning the hourly rows.
        window = {"d0": day_from, "d1": day_to}
        current = memo.stamp(store, "usage_daily", "day >= %(d0)s AND day < %(d1)s", window)
        q = rule.percentile
        key = ("daytime_p95", h0, h1, q, tuple(eligible))
        p95 = memo.cached(store, key, current, lambda: _daytime_p95(store, eligible, h0, h1, q))
    enriched = [
        VmWindowStats(
            **{
                **s.__dict__,
                "cpu_p95_used_vcpu": p95[s.vm_id][0],
                "mem_p95_used_gb": p95[s.vm_id][1],
                "cpu_p95_used_vcpu_all": p95[s.vm_id][2],
                "mem_p95_used_gb_all": p95[s.vm_id][3],
                "night_heavy": night_heavy(s, util),
            }
        )
        for s in stats
        if s.vm_id in p95
    ]
    found = rightsizing_candidates(
        enriched, rule, window_start=day_from, window_end=day_to, prices=prices
    )
    total_vcpu = sum(c.freed_vcpu for c in found)
    total_mem = sum((c.freed_mem_gb for c in found), Decimal(0))
    total_money = sum((c.savings_year or Decimal(0) for c in found), Decimal(0))
    return _paged(
        found,
        limit,
        offset,
        window={"start": day_from.isoformat(), "end": day_to.isoformat()},
        totals={
            "freed_vcpu": total_vcpu,
            "freed_mem_gb": str(total_mem),
            "savings_year": str(total_money),
        },
    )


def _daytime_p95(
    store: Store, vms: Sequence[str], h0: int, h1: int, q: float
) -> dict[str, tuple[float, float, float, float]]:
    """Per VM: the business-weighted and all-hours p95 of used vCPUs and GB over [h0, h1)."""
    p95: dict[str, tuple[float, float, float, float]] = {}
    for r in store.dicts(
        """
        SELECT vm_id,
            quantileExactWeightedIf(%(q)s)(cpu_x, w, w > 0) AS cpu_used,
            quantileExactWeightedIf(%(q)s)(mem_x, w, w > 0) AS mem_used,
            quantileExactWeighted(%(q)s)(cpu_x, w_all) AS cpu_used_all,
            quantileExactWeighted(%(q)s)(mem_x, w_all) AS mem_used_all,
            countIf(w > 0) AS day_hours
        FROM (
            SELECT vm_id, toFloat64(cpu_p95) * vcpu / 100 AS cpu_x,
                toFloat64(mem_p95) * toFloat64(mem_gb) / 100 AS mem_x,
                toUInt64(round(business_weight * alloc_fraction * 1000)) AS w,
                toUInt64(round(alloc_fraction * 1000)) AS w_all
            FROM usage_hourly FINAL
            WHERE alloc_fraction > 0 AND vm_id IN %(vms)s AND hour >= toDateTime(%(h0)s, 'UTC')
                AND hour < toDateTime(%(h1)s, 'UTC') AND samples > 0
        )
        GROUP BY vm_id
        HAVING day_hours > 0
        ORDER BY vm_id
        """,
        {"q": q, "vms": tuple(vms), "h0": h0, "h1": h1},
    ):
        p95[r["vm_id"]] = (
            float(r["cpu_used"]),
            float(r["mem_used"]),
            float(r["cpu_used_all"]),
            float(r["mem_used_all"]),
        )
    return p95


def find_storage_idle(
    store: Store,
    as_of: dt.date,
    *,
    policy: UtilizationPolicy | None = None,
    bureau_scope: str | None = None,
    filters: Mapping[str, str | None] | None = None,
    limit: int = 100,
    offset: int = 0,
) -> dict[str, Any]:
    """Disks under the storage-idle threshold in each of the last N complete months."""
    util = policy or UtilizationPolicy()
    months = storage_months(as_of, util.storage_idle)
    d0, d1 = months[0], month_start(months[-1], -1)
    where, params = _where(bureau_scope, filters)
    window = {"d0": d0, "d1": d1}
    days = "day >= %(d0)s AND day < %(d1)s"
    current = (memo.stamp(store, "disk_usage_daily", days, window),
               memo.stamp(store, "usage_daily", days, window))  # fmt: skip
    key = ("disk_months", d0, d1, where, tuple(sorted(params.items())))
    rows = memo.cached(store, key, current, lambda: _disk_months(store, d0, d1, where, params))
    stats = [
        DiskMonthStats(
            vm_id=r["vm_id"],
            disk_id=r["disk_id"],
            month=r["month"],
            tier=r["tier"],
            size_gb=_plain(r["size_gb"]),
            used_pct_max=None if r["used_max"] is None else float(r["used_max"]),
            days_sampled=int(r["days"]),
            bureau=r["bureau"],
            system=r["system"],
            pool=r["pool"],
            provider=r["provider"],
        )
        for r in rows
    ]
    found = storage_idle_candidates(stats, util.storage_idle, as_of=as_of)
    return _paged(found, limit, offset, months=[m.isoformat()[:7] for m in months])


def _disk_months(
    store: Store, d0: dt.date, d1: dt.date, where: str, params: dict[str, Any]
) -> list[dict[str, Any]]:
    """Each disk's month figures over [d0, d1) with its VM's owner, within ``where``."""
    return store.dicts(
        f"""
        SELECT vm_id, disk_id, month, tier, size_gb, used_max, days,
            bureau, system, pool, provider
        FROM (
            SELECT vm_id, disk_id, toStartOfMonth(day) AS month,
                argMax(tier, day) AS tier, argMax(size_gb, day) AS size_gb,
                max(used_pct) AS used_max, count() AS days
            FROM disk_usage_daily FINAL
            WHERE day >= %(d0)s AND day < %(d1)s
            GROUP BY vm_id, disk_id, month
        ) AS disk_months ALL INNER JOIN (
            SELECT vm_id, argMax(bureau, day) AS bureau, argMax(system, day) AS system,
                argMax(pool, day) AS pool, argMax(provider, day) AS provider
            FROM usage_daily FINAL
            WHERE hours > 0 AND day >= %(d0)s AND day < %(d1)s
            GROUP BY vm_id
        ) AS owners USING (vm_id)
        WHERE {where}
        ORDER BY vm_id, disk_id, month
        """,
        params | {"d0": d0, "d1": d1},
    )
