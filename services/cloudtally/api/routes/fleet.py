"""Fleet overview: what is metered, scoped to the caller's bureau."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from cloudtally.api.auth import CurrentPrincipal
from cloudtally.api.deps import StoreDep
from cloudtally.queries.inventory import fleet_summary

router = APIRouter(prefix="/api/v1/fleet", tags=["fleet"])


@router.get("", summary="Counts of VMs, bureaus, pools, allocation and samples")
def get_fleet(store: StoreDep, principal: CurrentPrincipal) -> dict[str, Any]:
    return fleet_summary(store, bureau=principal.scope)
