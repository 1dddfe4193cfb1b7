"""Shared FastAPI dependencies: the store, pagination, time ranges."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Query, Request

from cloudtally.store import Store


def get_store(request: Request) -> Store:
    store: Store = request.app.state.store_provider()
    return store


StoreDep = Annotated[Store, Depends(get_store)]


@dataclass(frozen=True)
class Page:
    limit: int
    offset: int

    def envelope(self, total: int, items: list[Any]) -> dict[str, Any]:
        return {"total": total, "limit": self.limit, "offset": self.offset, "items": items}


def page(
    limit: Annotated[int, Query(ge=1, le=10_000, description="page size")] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000, description="rows to skip")] = 0,
) -> Page:
    return Page(limit, offset)


PageDep = Annotated[Page, Depends(page)]

SHANGHAI = dt.timezone(dt.timedelta(hours=8))


def parse_instant(value: str, name: str) -> dt.datetime:
    """Accept epoch seconds or ISO 8601; a naive time is Asia/Shanghai (the buyers' clock)."""
    try:
        if value.isdigit():
            return dt.datetime.fromtimestamp(int(value), dt.UTC)
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise HTTPException(
            422, f"{name}: not an ISO 8601 time or epoch seconds: {value!r}"
        ) from None
    return parsed.replace(tzinfo=SHANGHAI) if parsed.tzinfo is None else parsed
