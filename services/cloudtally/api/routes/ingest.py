"""Pipeline health for admins and auditors: dead letters and consumer progress."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from cloudtally.api.auth import ReadAllPrincipal
from cloudtally.api.deps import PageDep, StoreDep
from cloudtally.queries.ingest import consumer_progress, dead_letters

router = APIRouter(prefix="/api/v1/ingest", tags=["ingest"])


@router.get("/dead-letters", summary="Rejected messages and rows with their reasons")
def get_dead_letters(
    store: StoreDep, _p: ReadAllPrincipal, page: PageDep, topic: str | None = None
) -> dict[str, Any]:
    total, items = dead_letters(store, topic=topic, limit=page.limit, offset=page.offset)
    return page.envelope(total, items)


@router.get("/progress", summary="Offsets flushed to the store per topic partition")
def get_progress(store: StoreDep, _p: ReadAllPrincipal) -> list[dict[str, Any]]:
    return consumer_progress(store)
