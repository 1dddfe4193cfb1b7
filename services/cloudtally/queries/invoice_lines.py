"""An invoice's lines as a bureau may see them: the ownership-over-time rule per line.

A line belongs to the bureau that was the only owner of its resource during the
line's period (:func:`cloudtally.core.ownership.sole_owner`); a line whose period
spans a move, or whose resource inventory never knew, belongs to no bureau (the
buyer sees it). The selection is done on data fetched as columns, so a bureau
owning thousands of VMs never turns into a resource list inlined in SQL.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from cloudtally.core.invoice import norm_resource_id
from cloudtally.core.ownership import OwnershipPeriod, sole_owner
from cloudtally.queries.ownership import ownership
from cloudtally.store import Store

_DECIMALS = ", ".join(
    f"toString({c}) AS {c}"
    for c in ("quantity", "unit_price", "list_amount", "discount_rate", "amount")
)


def key_ownership(store: Store) -> dict[str, list[OwnershipPeriod]]:
    """Normalised resource key → ownership periods (ids that normalise alike are merged)."""
    out: dict[str, list[OwnershipPeriod]] = {}
    for vm_id, periods in ownership(store).items():
        out.setdefault(norm_resource_id(vm_id), []).extend(periods)
    return out


def line_owner(
    owners: dict[str, list[OwnershipPeriod]], key: str, start: dt.datetime, end: dt.datetime
) -> str:
    return sole_owner(owners.get(key, []), start, end) or ""


def _utc(epoch: Any) -> dt.datetime:
    return dt.datetime.fromtimestamp(int(epoch), dt.UTC)


def invoice_lines(
    store: Store,
    invoice_id: str,
    import_id: str,
    *,
    bureau: str | None = None,
    resource_key: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[int, Decimal, list[dict[str, Any]]]:
    """(lines selected, their amount, one page of them) in file order, each with its owner."""
    where = "invoice_id = %(id)s AND import_id = %(imp)s"
    params: dict[str, Any] = {"id": invoice_id, "imp": import_id}
    if resource_key is not None:
        params["rk"] = resource_key
        where += " AND resource_key = %(rk)s"
    owners = key_ownership(store)
    if bureau is None:
        n, amount = store.rows(
            f"SELECT count(), toString(sum(amount)) FROM invoice_lines WHERE {where}", params
        )[0]
        lo_hi = ""
        page_nos: set[int] | None = None
        total, money = int(n), Decimal(str(amount or 0))
    else:
        cols = store.columns(
            f"""SELECT line_no, resource_key, toUInt32(period_start) AS ps,
                       toUInt32(period_end) AS pe, toString(amount) AS amount
                FROM invoice_lines WHERE {where} ORDER BY line_no""",
            params,
        )
        mine = [
            (int(no), Decimal(str(a)))
            for no, key, ps, pe, a in zip(
                cols["line_no"],
                cols["resource_key"],
                cols["ps"],
                cols["pe"],
                cols["amount"],
                strict=True,
            )
            if line_owner(owners, str(key), _utc(ps), _utc(pe)) == bureau
        ]
        total, money = len(mine), sum((a for _, a in mine), Decimal(0))
        page = [no for no, _ in mine[offset : offset + limit]]
        if not page:
            return total, money, []
        page_nos = set(page)
        lo_hi = " AND line_no >= %(lo)s AND line_no <= %(hi)s"
        params.update(lo=page[0], hi=page[-1])
    rows = store.dicts(
        f"""
        SELECT line_no, resource_id, resource_key, resource_name, resource_type_raw,
               resource_type, charge_category, toUnixTimestamp(period_start) AS ps,
               toUnixTimestamp(period_end) AS pe, {_DECIMALS}, unit, currency, pool, region,
               sku, description
        FROM invoice_lines WHERE {where}{lo_hi}
        ORDER BY line_no {"" if page_nos is not None else "LIMIT %(limit)s OFFSET %(offset)s"}
        """,
        {**params, "limit": limit, "offset": offset},
    )
    if page_nos is not None:
        rows = [r for r in rows if int(r["line_no"]) in page_nos]
    for r in rows:
        r["period_start"], r["period_end"] = _utc(r.pop("ps")), _utc(r.pop("pe"))
        r["bureau"] = line_owner(owners, r["resource_key"], r["period_start"], r["period_end"])
    return total, money, rows
