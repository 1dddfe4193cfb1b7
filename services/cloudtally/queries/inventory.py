"""Current VM inventory and fleet counts, derived from the lifecycle history."""

from __future__ import annotations

from typing import Any

from cloudtally.core.ownership import FOREVER
from cloudtally.queries import memo
from cloudtally.queries.ownership import owned_at, ownership
from cloudtally.store import Store

# Latest state per VM: the event with the greatest (event_ts, version) wins.
_LATEST = """
SELECT
    vm_id,
    argMax(name, (event_ts, version)) AS name,
    argMax(bureau, (event_ts, version)) AS bureau,
    argMax(system, (event_ts, version)) AS system,
    argMax(pool, (event_ts, version)) AS pool,
    argMax(provider, (event_ts, version)) AS provider,
    argMax(vcpu, (event_ts, version)) AS vcpu,
    argMax(mem_gb, (event_ts, version)) AS mem_gb,
    argMax(disk_ids, (event_ts, version)) AS disk_ids,
    argMax(disk_size_gb, (event_ts, version)) AS disk_size_gb,
    argMax(disk_tiers, (event_ts, version)) AS disk_tiers,
    argMax(event, (event_ts, version)) AS last_event,
    min(event_ts) AS first_seen,
    max(event_ts) AS last_change
FROM {source}
GROUP BY vm_id
"""
CURRENT_VMS = _LATEST.format(source="vm_inventory FINAL")
# A bureau's view of one VM: its state as of the bureau's own last event (a former
# owner sees the VM as it left it, never what the new owner did with it since).
OWN_VIEW = _LATEST.format(
    source="(SELECT * FROM vm_inventory FINAL WHERE vm_id = %(vm_id)s AND bureau = %(bureau)s)"
)
# The same for every bureau that ever had each of a set of VMs, in one read.
OWN_VIEWS = _LATEST.replace("GROUP BY vm_id", "GROUP BY vm_id, viewer").format(
    source="(SELECT *, bureau AS viewer FROM vm_inventory FINAL WHERE vm_id IN %(vms)s)"
)


def _filters(
    bureau: str | None, filters: dict[str, str | None], include_deleted: bool
) -> tuple[str, dict[str, Any]]:
    clauses, params = ["1"], {}
    for name, value in {**filters, "bureau": bureau}.items():
        if value:
            clauses.append(f"{name} = %({name})s")
            params[name] = value
    if not include_deleted:
        clauses.append("last_event != 'deleted'")
    return " AND ".join(clauses), params


def list_vms(
    store: Store,
    *,
    bureau: str | None = None,
    pool: str | None = None,
    provider: str | None = None,
    system: str | None = None,
    include_deleted: bool = False,
    limit: int = 100,
    offset: int = 0,
) -> tuple[int, list[dict[str, Any]]]:
    where, params = _filters(
        bureau, {"pool": pool, "provider": provider, "system": system}, include_deleted
    )
    total = _count(store, where, params)
    rows = store.dicts(
        f"SELECT * FROM ({CURRENT_VMS}) WHERE {where} ORDER BY vm_id "
        "LIMIT %(limit)s OFFSET %(offset)s",
        {**params, "limit": limit, "offset": offset},
    )
    return total, [_vm(r) for r in rows]


def _count(store: Store, where: str, params: dict[str, Any]) -> int:
    """How many current VMs match: needs every VM's latest state, so kept per inventory."""
    return memo.cached(
        store, ("vm_count", where, tuple(sorted(params.items()))),
        memo.stamp(store, "vm_inventory", "1", {}),
        lambda: int(store.scalar(f"SELECT count() FROM ({CURRENT_VMS}) WHERE {where}", params)),
    )  # fmt: skip


def count_vms(store: Store, *, bureau: str | None = None) -> int:
    """The bureau's (or the fleet's) current VMs, deleted ones excluded."""
    where, params = _filters(bureau, {}, include_deleted=False)
    return _count(store, where, params)


def get_vm(store: Store, vm_id: str, *, bureau: str | None = None) -> dict[str, Any] | None:
    """One VM and its ownership periods. A bureau that owns or once owned the VM gets
    its own view (state as of its last event) and only its own periods; else None."""
    if bureau:
        rows = store.dicts(OWN_VIEW, {"vm_id": vm_id, "bureau": bureau})
    else:
        rows = store.dicts(
            f"SELECT * FROM ({CURRENT_VMS}) WHERE vm_id = %(vm_id)s", {"vm_id": vm_id}
        )
    if not rows:
        return None
    periods = ownership(store, bureau=bureau, vm_id=vm_id).get(vm_id, [])
    return _with_ownership(_vm(rows[0]), periods)


def own_views(
    store: Store, pairs: list[tuple[str, str]]
) -> dict[tuple[str, str], dict[str, Any] | None]:
    """``get_vm(vm_id, bureau=bureau)`` for every (vm_id, bureau) pair, in two reads (a
    round's verification judges thousands of accepted items by their deciders' views;
    two reads each took 18 s for 1,000 items at 15,000 VMs)."""
    vms = tuple(sorted({vm for vm, _ in pairs}))
    if not vms:
        return {}
    # grouped by (vm_id, viewer): each row's bureau is its viewer
    views = {(r["vm_id"], r["bureau"]): r for r in store.dicts(OWN_VIEWS, {"vms": vms})}
    periods = ownership(store, vm_ids=vms)
    out: dict[tuple[str, str], dict[str, Any] | None] = {}
    for vm, bureau in pairs:
        row = views.get((vm, bureau))
        own = [p for p in periods.get(vm, []) if p.bureau == bureau]
        out[(vm, bureau)] = None if row is None else _with_ownership(_vm(dict(row)), own)
    return out


def _with_ownership(vm: dict[str, Any], periods: list[Any]) -> dict[str, Any]:
    ownership_out = [
        {"bureau": p.bureau, "from": p.start, "to": None if p.end >= FOREVER else p.end}
        for p in periods
    ]
    return {**vm, "ownership": ownership_out}


def vm_sizes(store: Store, vm_ids: list[str]) -> dict[str, tuple[int, Any]]:
    """``vm_id -> (vcpu, mem_gb)`` as of each VM's latest event, for many VMs in one read
    (a round snapshots thousands of candidates; one ``get_vm`` each took half a minute
    at 15,000 VMs). A long id list goes to the store as data (store.idsets)."""
    if not vm_ids:
        return {}
    rows = store.rows(
        "SELECT vm_id, argMax(vcpu, (event_ts, version)), argMax(mem_gb, (event_ts, version))"
        " FROM vm_inventory FINAL WHERE vm_id IN %(ids)s GROUP BY vm_id",
        {"ids": tuple(vm_ids)},
    )
    return {vm_id: (int(vcpu), mem) for vm_id, vcpu, mem in rows}


def _vm(row: dict[str, Any]) -> dict[str, Any]:
    disks = [
        {"disk_id": d, "size_gb": s, "tier": t}
        for d, s, t in zip(
            row.pop("disk_ids"), row.pop("disk_size_gb"), row.pop("disk_tiers"), strict=True
        )
    ]
    return {**row, "disks": disks}


def fleet_summary(store: Store, *, bureau: str | None = None) -> dict[str, Any]:
    where, params = _filters(bureau, {}, include_deleted=False)
    inv = store.dicts(
        f"""
        SELECT count() AS vms, uniqExact(bureau) AS bureaus, uniqExact(system) AS systems,
               uniqExact(pool) AS pools, uniqExact(provider) AS providers,
               sum(vcpu) AS vcpu, sum(mem_gb) AS mem_gb,
               round(sum(arraySum(arrayMap(x -> toFloat64(x), disk_size_gb))), 3) AS storage_gb
        FROM ({CURRENT_VMS}) WHERE {where}
        """,
        params,
    )[0]
    rows = "SELECT vm_id, ts FROM samples FINAL"
    sam = store.dicts(
        "SELECT count() AS samples, if(count() = 0, NULL, max(ts)) AS last_sample "
        f"FROM ({owned_at(rows) if bureau else rows})",
        {"bureau": bureau} if bureau else None,
    )[0]
    return {**inv, **sam}
