"""Allocation mismatches in the utilization API: capacity observed vs allocated."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Query

from cloudtally.api.auth import CurrentPrincipal
from cloudtally.api.deps import StoreDep, parse_instant
from cloudtally.queries.allocation import as_dict, mismatches

router = APIRouter(prefix="/api/v1/utilization", tags=["utilization"])


@router.get(
    "/allocation-mismatches",
    summary="VMs whose observed vCPUs or memory differ from the ledger's allocation",
)
def get_allocation_mismatches(
    store: StoreDep,
    principal: CurrentPrincipal,
    start: str | None = Query(None, alias="from", description="ISO time or epoch s"),
    end: str | None = Query(None, alias="to", description="ISO time or epoch s; default now"),
    vm_id: str | None = None,
) -> list[dict[str, Any]]:
    """Each item has its evidence: allocated and observed values, when and by which source.

    A bureau token sees the mismatches observed while its bureau owned the VM.
    """
    t0, t1 = _period(start, end)
    found = mismatches(
        store,
        start=t0,
        end=t1,
        bureau=principal.scope,
        vm_ids={vm_id} if vm_id else None,
    )
    return [as_dict(m) for m in found]


def _period(start: str | None, end: str | None) -> tuple[int, int]:
    """[from, to) in epoch seconds: default from the beginning to now."""
    t0 = int(parse_instant(start, "from").timestamp()) if start else 0
    t1 = int(parse_instant(end, "to").timestamp()) if end else int(time.time()) + 1
    return t0, t1
