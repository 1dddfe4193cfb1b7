"""VMs and their raw samples."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query

from cloudtally.api.auth import CurrentPrincipal
from cloudtally.api.deps import PageDep, StoreDep, parse_instant
from cloudtally.api.errors import ApiError
from cloudtally.queries.inventory import get_vm, list_vms
from cloudtally.queries.samples import vm_samples

router = APIRouter(prefix="/api/v1/vms", tags=["vms"])


@router.get("", summary="Current VM inventory (latest state per VM)")
def get_vms(
    store: StoreDep,
    principal: CurrentPrincipal,
    page: PageDep,
    pool: str | None = None,
    provider: str | None = None,
    system: str | None = None,
    bureau: str | None = None,
    include_deleted: bool = False,
) -> dict[str, Any]:
    scope = principal.scope
    if scope and bureau and bureau != scope:
        return page.envelope(0, [])
    total, items = list_vms(
        store,
        bureau=scope or bureau,
        pool=pool,
        provider=provider,
        system=system,
        include_deleted=include_deleted,
        limit=page.limit,
        offset=page.offset,
    )
    return page.envelope(total, items)


@router.get("/{vm_id}", summary="One VM's current state")
def get_one_vm(vm_id: str, store: StoreDep, principal: CurrentPrincipal) -> dict[str, Any]:
    vm = get_vm(store, vm_id, bureau=principal.scope)
    if vm is None:
        raise ApiError(404, "error.no_vm", vm_id=vm_id)
    return vm


@router.get("/{vm_id}/samples", summary="Raw CPU and memory samples of a VM over [from, to)")
def get_samples(
    vm_id: str,
    store: StoreDep,
    principal: CurrentPrincipal,
    from_: Annotated[str | None, Query(alias="from", description="ISO time or epoch s")] = None,
    to: Annotated[str | None, Query(description="ISO time or epoch s; default now")] = None,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 10_000,
) -> dict[str, Any]:
    if get_vm(store, vm_id, bureau=principal.scope) is None:
        raise ApiError(404, "error.no_vm", vm_id=vm_id)
    end = parse_instant(to, "to") if to else dt.datetime.now(dt.UTC)
    start = parse_instant(from_, "from") if from_ else end - dt.timedelta(days=1)
    if start >= end:
        raise ApiError(422, "error.from_before_to")
    rows = vm_samples(store, vm_id, start, end, bureau=principal.scope, limit=limit)
    return {"vm_id": vm_id, "from": start, "to": end, "count": len(rows), "samples": rows}
