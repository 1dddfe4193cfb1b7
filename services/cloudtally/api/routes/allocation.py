"""Allocation mismatches in the utilization API: capacity observed vs allocated."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Query

from cloudtally.api.auth import CurrentPrincipal
from cloudtally.api.deps import StoreDep
from cloudtally.queries.allocation import as_dict, mismatches

router = APIRouter(prefix="/api/v1/utilization", tags=["utilization"])


@router.get(
    "/allocation-mismatches",
    summary="VMs whose observed vCPUs or memory differ from the ledger's allocation",
)
def get_allocation_mismatches(
    store: StoreDep,
    principal: CurrentPrincipal,
    start: int = Query(0, alias="from", description="epoch seconds"),
    end: int | None = Query(None, alias="to", description="epoch seconds; default now"),
    vm_id: str | None = None,
) -> list[dict[str, Any]]:
    """Each item has its evidence: allocated and observed values, when and by which source.

    A bureau token sees the mismatches observed while its bureau owned the VM.
    """
    found = mismatches(
        store,
        start=start,
        end=end if end is not None else int(time.time()) + 1,
        bureau=principal.scope,
        vm_ids={vm_id} if vm_id else None,
    )
    return [as_dict(m) for m in found]
