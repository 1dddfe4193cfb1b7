"""Time series behind the console's charts: hourly (heat map) and daily (day/night/all).

Same access rule and utilization definition as :mod:`cloudtally.analytics.queries`:
the bureau scope inside the SQL, capacity-weighted utilization (a bigger VM weighs
more), a metering gap is a missing point, never zero.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from cloudtally.analytics.queries import _ratio, _where
from cloudtally.analytics.rollups import _sorted_sum
from cloudtally.store.base import Store


def _vms(where: str) -> str:
    """A VM restriction that lets the (vm_id, ...) sort key find the rows: every VM whose
    inventory ever matched ``where`` (a superset: rows carry their inventory's attributes,
    so a row that matches belongs to such a VM); the caller's WHERE still decides."""
    return "" if where == "1" else f"AND vm_id IN (SELECT vm_id FROM vm_inventory WHERE {where})"


def hourly(
    store: Store,
    h0: int,
    h1: int,
    *,
    bureau_scope: str | None = None,
    filters: Mapping[str, str | None] | None = None,
) -> list[dict[str, Any]]:
    """Per UTC hour in [h0, h1) (epoch seconds): capacity-weighted CPU and memory %,
    and the hour's business weight (0 outside business hours)."""
    where, params = _where(bureau_scope, filters)
    rows = store.dicts(
        f"""
        SELECT toUnixTimestamp(hour) AS hour,
            {_sorted_sum("cpu_avg * vcpu * alloc_fraction", "samples > 0")} AS cpu_num,
            {_sorted_sum("vcpu * alloc_fraction", "samples > 0")} AS cpu_den,
            {_sorted_sum("mem_avg * toFloat64(mem_gb) * alloc_fraction", "samples > 0")}
                AS mem_num,
            {_sorted_sum("toFloat64(mem_gb) * alloc_fraction", "samples > 0")} AS mem_den,
            max(business_weight) AS business
        FROM usage_hourly FINAL
        WHERE hour >= toDateTime(%(h0)s, 'UTC') AND hour < toDateTime(%(h1)s, 'UTC')
            AND alloc_fraction > 0 AND {where} {_vms(where)}
        GROUP BY hour ORDER BY hour
        """,
        params | {"h0": int(h0), "h1": int(h1)},
    )
    return [
        {
            "hour": int(r["hour"]),
            "cpu": _ratio(r["cpu_num"], r["cpu_den"]),
            "mem": _ratio(r["mem_num"], r["mem_den"]),
            "business": float(r["business"]),
        }
        for r in rows
    ]


def daily(
    store: Store,
    d0: dt.date,
    d1: dt.date,
    *,
    bureau_scope: str | None = None,
    filters: Mapping[str, str | None] | None = None,
) -> list[dict[str, Any]]:
    """Per local day in [d0, d1): CPU and memory utilization by day, night and all hours."""
    where, params = _where(bureau_scope, filters)
    sums = ", ".join(
        f"{_sorted_sum(f'{m}_{p}_{s}')} AS {m}_{p}_{s}"
        for m in ("cpu", "mem")
        for s in ("all", "day", "night")
        for p in ("num", "den")
    )
    rows = store.dicts(
        f"""
        SELECT day, {sums}
        FROM usage_daily FINAL
        WHERE hours > 0 AND day >= %(d0)s AND day < %(d1)s AND {where} {_vms(where)}
        GROUP BY day ORDER BY day
        """,
        params | {"d0": d0, "d1": d1},
    )
    return [
        {"day": r["day"].isoformat()}
        | {
            f"{m}_{s}": _ratio(r[f"{m}_num_{s}"], r[f"{m}_den_{s}"])
            for m in ("cpu", "mem")
            for s in ("day", "night", "all")
        }
        for r in rows
    ]
