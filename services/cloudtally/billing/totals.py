"""Bill totals per (month, bureau, system, VM, pool, provider), kept by the rating step.

Statements, budgets and the console's drill-down sum these rows (one per VM and
month, ~15,000 a month at Hainan scale) instead of the bill lines (~1.6 M a month)
behind them. A row is the exact sum of its key's current bill lines (the same
ClickHouse Decimal sums a statement over the lines would give): after every
rating run :func:`refresh` recomputes the rows of every (month, VM) the run
touched from the current lines, and writes a zero row for a key that lost its
lines (a re-rate that moved a day to another system or owner), so no stale total
survives. Readers use :func:`where` (``FINAL``, ``lines > 0``).

The bureau of a row is the bureau its bill lines carry, i.e. the owner over time
(:mod:`cloudtally.core.ownership`): a VM that moved during a month has one row per
owner, and a bureau's scope on the totals is exactly its scope on the lines.
Periods that are not whole months fall back to the lines (:func:`covers`).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from typing import Any

from cloudtally.billing.rate import current_filter
from cloudtally.core.statements import month_bounds
from cloudtally.store.base import Store

KEY = "month, bureau, system, vm_id, pool, provider"
AMOUNTS = ("list_amount", "after_discount", "after_cut")


def covers(d0: dt.date, d1: dt.date) -> bool:
    """True when [d0, d1) is whole months (what the totals can answer exactly)."""
    return d0.day == 1 and d1.day == 1 and d1 > d0


def months_of(d0: dt.date, d1: dt.date) -> tuple[dt.date, dt.date]:
    """[first month, month after the last) covering the local days [d0, d1)."""
    return month_bounds(d0)[0], month_bounds(d1 - dt.timedelta(days=1))[1]


def refresh(store: Store, d0: dt.date, d1: dt.date, vm_ids: Sequence[str] | None = None) -> int:
    """Recompute the totals of every (month, VM) with days in [d0, d1) from the current lines.

    Whole months are recomputed (a run that rated one day changes that day's month);
    with ``vm_ids`` only those VMs. Returns the version written.
    """
    m0, m1 = months_of(d0, d1)
    version = time.time_ns()
    params: dict[str, Any] = {"m0": m0, "m1": m1, "v": version}
    scope = ""
    if vm_ids is not None:
        params["vms"] = tuple(vm_ids)
        scope = "AND vm_id IN %(vms)s"
    columns = f"{KEY}, lines, days, last_day, {', '.join(AMOUNTS)}, provisional_lines, version"
    store.execute(
        f"""INSERT INTO bill_totals ({columns})
        SELECT {KEY}, count(), uniqExact(day), max(day), sum(list_amount), sum(after_discount),
            sum(after_cut), sum(month_provisional), %(v)s
        FROM bill_lines
        WHERE day >= %(m0)s AND day < %(m1)s {scope}
            AND {current_filter("%(m0)s", "%(m1)s", extra=scope)}
        GROUP BY {KEY}""",
        params,
    )
    # Keys of those (month, VM) that the recomputation did not write lost their lines.
    store.execute(
        f"""INSERT INTO bill_totals ({columns})
        SELECT {KEY}, 0, 0, last_day, toDecimal64(0, 2), toDecimal64(0, 2), toDecimal64(0, 2), 0,
            %(v)s
        FROM bill_totals FINAL
        WHERE month >= %(m0)s AND month < %(m1)s {scope} AND version < %(v)s AND lines > 0""",
        params,
    )
    return version


def where(
    params: dict[str, Any],
    d0: dt.date,
    d1: dt.date,
    *,
    bureau: str | None = None,
    system: str | None = None,
    vm_ids: Sequence[str] | None = None,
    provider: str | None = None,
) -> str:
    """``FROM bill_totals FINAL WHERE ...`` for the whole months [d0, d1), scoped in SQL."""
    params.update({"m0": d0, "m1": d1})
    sql = "month >= %(m0)s AND month < %(m1)s AND lines > 0" + filters(
        params, bureau=bureau, system=system, vm_ids=vm_ids, provider=provider
    )
    # a subquery, so the caller may name its sums after the columns (sum(lines) AS lines)
    return f"FROM (SELECT * FROM bill_totals FINAL WHERE {sql}) AS bill_totals"


def filters(
    params: dict[str, Any],
    *,
    bureau: str | None = None,
    system: str | None = None,
    vm_ids: Sequence[str] | None = None,
    provider: str | None = None,
) -> str:
    """`` AND ...`` equality filters, for the totals or the bill lines (the same columns)."""
    sql = ""
    if bureau is not None:
        params["bureau"] = bureau
        sql += " AND bureau = %(bureau)s"
    if system is not None:
        params["system"] = system
        sql += " AND system = %(system)s"
    if vm_ids is not None:
        params["vms"] = tuple(vm_ids)
        sql += " AND vm_id IN %(vms)s"
    if provider is not None:
        params["provider"] = provider
        sql += " AND provider = %(provider)s"
    return sql


def version(store: Store) -> int:
    """The latest totals version: changes whenever a rating run changed any bill."""
    return int(store.scalar("SELECT max(version) FROM bill_totals") or 0)
