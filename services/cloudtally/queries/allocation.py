"""Allocation mismatches: observed capacity (collectors) vs the ledger's (inventory history)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from cloudtally.core.rules.allocation import Allocation, Mismatch, Observation, find_mismatches
from cloudtally.store import Store


def mismatches(
    store: Store,
    *,
    start: int,
    end: int,
    bureau: str | None = None,
    vm_ids: set[str] | None = None,
) -> list[Mismatch]:
    """Runs of observations in [start, end) disagreeing with the allocation then in force.

    ``bureau`` keeps the mismatches seen while that bureau owned the VM.
    """
    where = "ts >= toDateTime(%(start)s, 'UTC') AND ts < toDateTime(%(end)s, 'UTC')"
    params: dict[str, Any] = {"start": start, "end": end}
    if vm_ids is not None:
        if not vm_ids:
            return []
        where += " AND vm_id IN %(vms)s"
        params["vms"] = tuple(sorted(vm_ids))
    obs = [
        Observation(vm, int(ts), src, vcpu, mem)
        for vm, ts, src, vcpu, mem in store.rows(
            f"SELECT vm_id, toUnixTimestamp(ts), source, vcpu, mem_gb "
            f"FROM observed_allocation FINAL WHERE {where} ORDER BY vm_id, ts",
            params,
        )
    ]
    if not obs:
        return []
    ids = tuple(sorted({o.vm_id for o in obs}))
    allocs = [
        Allocation(vm, int(ts), b, int(vcpu), Decimal(str(mem)), ev == "deleted")
        for vm, ts, b, vcpu, mem, ev in store.rows(
            "SELECT vm_id, toUnixTimestamp(event_ts), bureau, vcpu, mem_gb, toString(event) "
            "FROM vm_inventory FINAL WHERE vm_id IN %(ids)s ORDER BY vm_id, event_ts",
            {"ids": ids},
        )
    ]
    found = find_mismatches(obs, allocs)
    return [m for m in found if bureau is None or m.bureau == bureau]


def as_dict(m: Mismatch) -> dict[str, Any]:
    return {
        "vm_id": m.vm_id,
        "resource": m.resource,
        "bureau": m.bureau,
        "allocated": m.allocated,
        "observed": m.observed,
        "direction": m.direction,
        "missing_share": m.missing_share.quantize(Decimal("0.0001")),
        "first_seen": m.first_seen,
        "last_seen": m.last_seen,
        "observations": m.observations,
        "sources": list(m.sources),
    }
