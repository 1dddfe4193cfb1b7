"""Fleet overview: what is metered, scoped to the caller's bureau."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from cloudtally.api.auth import CurrentPrincipal, ReadAllPrincipal
from cloudtally.api.deps import PageDep, StoreDep
from cloudtally.queries.inventory import fleet_summary
from cloudtally.queries.orphans import list_orphans, orphan_summary

router = APIRouter(prefix="/api/v1/fleet", tags=["fleet"])


@router.get("", summary="Counts of VMs, bureaus, pools, allocation and samples")
def get_fleet(store: StoreDep, principal: CurrentPrincipal) -> dict[str, Any]:
    summary = fleet_summary(store, bureau=principal.scope)
    if principal.scope is None:  # orphans have no owner: admins and auditors see them
        summary.update(orphan_summary(store))
    return summary


@router.get("/orphans", summary="VM ids with samples but no inventory (kept, not billed)")
def get_orphans(store: StoreDep, _p: ReadAllPrincipal, page: PageDep) -> dict[str, Any]:
    total, items = list_orphans(store, limit=page.limit, offset=page.offset)
    return page.envelope(total, items)
