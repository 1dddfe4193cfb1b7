"""Per-VM bill totals for the console's drill-down, the costliest VMs and round savings.

Same rules as :mod:`cloudtally.billing.statements`: current lines only, the bureau
scope applied inside the SQL, totals are sums of the rounded lines. Whole months are
read from the rating step's per-VM totals (:mod:`cloudtally.billing.totals`); a day
billed under two keys (a pool or owner change that day) counts once per key in ``days``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from cloudtally.billing import totals
from cloudtally.billing.rate import current_filter
from cloudtally.billing.statements import ZERO, _scope
from cloudtally.store.base import Store


def vm_totals(
    store: Store,
    d0: dt.date,
    d1: dt.date,
    *,
    bureau: str | None = None,
    system: str | None = None,
    vm_ids: Sequence[str] | None = None,
    order: str = "amount",
    limit: int = 100,
    offset: int = 0,
) -> tuple[int, list[dict[str, Any]]]:
    """Each VM's lines, list and final amount over local days [d0, d1), costliest first
    (``order="amount"``) or by VM id; with the days it was billed."""
    if vm_ids is not None and not vm_ids:
        return 0, []
    params: dict[str, Any] = {"d0": d0, "d1": d1}
    if totals.covers(d0, d1):  # whole months: the rating step's per-VM totals
        base = totals.where(params, d0, d1, bureau=bureau, system=system, vm_ids=vm_ids)
        counted, days = "sum(lines)", "sum(days)"
    else:
        where = totals.filters(params, bureau=bureau, system=system, vm_ids=vm_ids)
        base = (
            f"FROM bill_lines WHERE day >= %(d0)s AND day < %(d1)s {where} AND {current_filter()}"
        )
        counted, days = "count()", "uniqExact(day)"
    total = store.scalar(f"SELECT uniqExact(vm_id) {base}", params)
    sort = "amount DESC, vm_id" if order == "amount" else "vm_id"
    rows = store.dicts(
        f"""SELECT vm_id, any(system) AS o_system, any(pool) AS o_pool, any(provider) AS o_provider,
            {counted} AS lines, {days} AS days, sum(list_amount) AS list_amount,
            sum(after_cut) AS amount
        {base}
        GROUP BY vm_id ORDER BY {sort} LIMIT {int(limit)} OFFSET {int(offset)}""",
        params,
    )
    for r in rows:
        for k in ("system", "pool", "provider"):
            r[k] = r.pop(f"o_{k}")
        r["list_amount"] = Decimal(r["list_amount"]).quantize(ZERO)
        r["amount"] = Decimal(r["amount"]).quantize(ZERO)
        r["days"] = int(r["days"])
    return int(total or 0), rows


def daily_average(
    store: Store, d0: dt.date, d1: dt.date, vm_ids: Sequence[str], *, bureau: str | None = None
) -> dict[str, Decimal]:
    """Average bill per billed day of each VM over [d0, d1) (VMs without lines: absent)."""
    _, rows = vm_totals(store, d0, d1, bureau=bureau, vm_ids=vm_ids, limit=len(vm_ids) or 1)
    return {r["vm_id"]: (r["amount"] / r["days"]).quantize(ZERO) for r in rows if r["days"]}


def last_billed_day(store: Store, *, bureau: str | None = None) -> dt.date | None:
    """The latest local day with current bill lines (the console's 'as of the data')."""
    params: dict[str, Any] = {}
    where = _scope(bureau, params)
    day = store.scalar(
        f"SELECT if(count() = 0, NULL, max(last_day)) FROM bill_totals FINAL"
        f" WHERE lines > 0 {where}",
        params,
    )
    return day if isinstance(day, dt.date) else None
