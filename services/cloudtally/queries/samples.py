"""Raw samples of one VM over a time range (the truth every rollup is computed from)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from cloudtally.store import Store


def vm_samples(
    store: Store,
    vm_id: str,
    start: dt.datetime,
    end: dt.datetime,
    *,
    bureau: str | None = None,
    limit: int = 10_000,
) -> list[dict[str, Any]]:
    scope = (
        "AND vm_id IN (SELECT vm_id FROM vm_inventory WHERE bureau = %(bureau)s)" if bureau else ""
    )
    return store.dicts(
        f"""
        SELECT ts, cpu_pct, mem_pct, source
        FROM samples FINAL
        WHERE vm_id = %(vm_id)s AND ts >= %(start)s AND ts < %(end)s {scope}
        ORDER BY ts
        LIMIT %(limit)s
        """,
        {"vm_id": vm_id, "start": start, "end": end, "bureau": bureau, "limit": limit},
    )
