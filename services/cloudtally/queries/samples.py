"""Raw samples of one VM over a time range (the truth every rollup is computed from)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from cloudtally.core.ownership import owned_spans
from cloudtally.queries.ownership import ownership
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
    """Samples in [start, end); for a bureau, only those taken while it owned the VM."""
    spans = [(start, end)]
    if bureau:
        periods = ownership(store, bureau=bureau, vm_id=vm_id).get(vm_id, [])
        spans = owned_spans(periods, bureau, start, end)
        if not spans:
            return []
    params: dict[str, Any] = {"vm_id": vm_id, "limit": limit}
    ranges = []
    for i, (lo, hi) in enumerate(spans):
        params[f"s{i}"], params[f"e{i}"] = lo, hi
        ranges.append(f"(ts >= %(s{i})s AND ts < %(e{i})s)")
    return store.dicts(
        f"""
        SELECT ts, cpu_pct, mem_pct, source
        FROM samples FINAL
        WHERE vm_id = %(vm_id)s AND ({" OR ".join(ranges)})
        ORDER BY ts
        LIMIT %(limit)s
        """,
        params,
    )
