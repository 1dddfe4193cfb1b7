"""Ownership over time in the store: the one helper every read model scopes with.

:data:`PERIODS` computes, from ``vm_inventory``, the same merged ownership
periods as :func:`cloudtally.core.ownership.periods_from_events` (one row per
VM and period: ``vm_id, bureau, owned_from, owned_to`` as UInt32 epochs,
``owned_to`` = 4294967295 while the VM is still owned). Read models either
fetch the periods (:func:`ownership`) and apply the core rules in Python, or
join :func:`owned_at` into their SQL; no read model decides ownership itself.

Both forms run on chDB 26.x and ClickHouse 18.16 (no window functions, no
lambda that captures a column).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from cloudtally.core.ownership import FOREVER, OwnershipPeriod
from cloudtally.store import Store

_PERIODS = """
SELECT vm_id, owner AS bureau, t0 AS owned_from, t1 AS owned_to
FROM (
    SELECT vm_id, ts, own,
        arrayMap((a, b, i) -> i = 1 OR a != b,
            own, arrayPushFront(arrayPopBack(own), ''), arrayEnumerate(own)) AS keep
    FROM (
        SELECT vm_id,
            arraySort(groupArray(toUInt32(event_ts))) AS ts,
            arraySort((x, t) -> t,
                groupArray(if(event = 'deleted', '', bureau)), groupArray(event_ts)) AS own
        FROM vm_inventory FINAL
        {vm_where}
        GROUP BY vm_id
    )
)
ARRAY JOIN
    arrayFilter((t, k) -> k, ts, keep) AS t0,
    arrayPushBack(arrayPopFront(arrayFilter((t, k) -> k, ts, keep)), toUInt32(4294967295)) AS t1,
    arrayFilter((o, k) -> k, own, keep) AS owner
WHERE owner != ''
"""

PERIODS = _PERIODS.format(vm_where="")


def periods_sql(
    *, bureau_param: str | None = None, vm_param: str | None = None, vms_param: str | None = None
) -> str:
    """The periods subquery, optionally of one bureau and/or one VM or a set of VMs
    (named parameters)."""
    vm_where = (
        f"WHERE vm_id = %({vm_param})s"
        if vm_param
        else f"WHERE vm_id IN %({vms_param})s"
        if vms_param
        else ""
    )
    sql = _PERIODS.format(vm_where=vm_where)
    return f"SELECT * FROM ({sql}) WHERE bureau = %({bureau_param})s" if bureau_param else sql


def ownership(
    store: Store,
    *,
    bureau: str | None = None,
    vm_id: str | None = None,
    vm_ids: tuple[str, ...] | None = None,
) -> dict[str, list[OwnershipPeriod]]:
    """vm_id → its ownership periods (of ``bureau`` only, when given; of ``vm_id`` or the
    VMs ``vm_ids`` only, when given), in time order."""
    params: dict[str, Any] = {"bureau": bureau, "vm": vm_id, "vms": vm_ids}
    sql = periods_sql(
        bureau_param="bureau" if bureau else None,
        vm_param="vm" if vm_id else None,
        vms_param="vms" if vm_ids is not None and not vm_id else None,
    )
    out: dict[str, list[OwnershipPeriod]] = defaultdict(list)
    for vm, owner, t0, t1 in store.rows(
        f"SELECT vm_id, bureau, owned_from, owned_to FROM ({sql}) ORDER BY vm_id, owned_from",
        params,
    ):
        out[str(vm)].append(OwnershipPeriod(str(vm), str(owner), _utc(t0), _utc(t1)))
    return dict(out)


def owned_at(rows_sql: str, *, ts: str = "ts", bureau_param: str = "bureau") -> str:
    """``rows_sql`` (which has ``vm_id`` and the instant column ``ts``) restricted to the rows
    whose VM the bureau owned at that instant: the owner-at-time rule as a SQL join."""
    return f"""
        SELECT * FROM ({rows_sql}) AS scoped_rows
        ALL INNER JOIN (
            SELECT vm_id, owned_from, owned_to FROM ({periods_sql(bureau_param=bureau_param)})
        ) AS scoped_periods USING (vm_id)
        WHERE toUInt32({ts}) >= owned_from AND toUInt32({ts}) < owned_to
    """


def _utc(epoch: Any) -> dt.datetime:
    value = int(epoch)
    return FOREVER if value >= 4294967295 else dt.datetime.fromtimestamp(value, dt.UTC)
