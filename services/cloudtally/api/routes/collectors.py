"""Collector health for admins and auditors: sources, watermarks, heartbeats."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from cloudtally.api.auth import ReadAllPrincipal
from cloudtally.api.deps import StoreDep
from cloudtally.api.routes.allocation import _period
from cloudtally.queries import collectors as q

router = APIRouter(prefix="/api/v1/collectors", tags=["collectors"])


@router.get("", summary="Every collector source: watermark (what the store has), last beat")
def get_sources(store: StoreDep, _p: ReadAllPrincipal) -> list[dict[str, Any]]:
    return q.sources(store)


@router.get("/known-vms", summary="VM ids inventory knows (collectors check series against it)")
def get_known_vms(store: StoreDep, _p: ReadAllPrincipal) -> list[str]:
    return sorted(q.known_vm_ids(store))


@router.get("/{source}/partitions", summary="Greatest stored data_until per samples partition")
def get_partitions(store: StoreDep, _p: ReadAllPrincipal, source: str) -> dict[str, int]:
    return {str(p): t for p, t in q.latest_beats(store, source).items()}


@router.get("/{source}/heartbeats", summary="Beats sent in [from, to): when the source listened")
def get_heartbeats(
    store: StoreDep,
    _p: ReadAllPrincipal,
    source: str,
    start: str | None = Query(None, alias="from", description="ISO time or epoch s"),
    end: str | None = Query(None, alias="to", description="ISO time or epoch s; default now"),
) -> list[dict[str, Any]]:
    t0, t1 = _period(start, end)
    return q.heartbeats(store, source, t0, t1)
