"""Search-everywhere: VMs, systems, bureaus, pools and invoices by id or name prefix.

Matches are case-insensitive prefixes of an id or a name (what staff type from a
ticket or a bill). VMs, systems, bureaus and pools come from the current
inventory read model under the caller's bureau scope; invoices only for
principals that read everything. The scope's current VMs are kept in memory
(:mod:`cloudtally.queries.memo`, until the inventory changes) and matched here, so a
keystroke costs one small stamp query, not four scans of the inventory history.
"""

from __future__ import annotations

from typing import Any

from cloudtally.queries import memo
from cloudtally.queries.inventory import CURRENT_VMS, _filters
from cloudtally.store import Store

MAX_QUERY = 64


def _like(prefix: str) -> str:
    escaped = prefix.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


def _index(store: Store, bureau: str | None) -> list[tuple[str, ...]]:
    """The current VMs under the scope, (vm_id, name, bureau, system, pool, provider, then
    the same six lowercased), in vm_id order; kept until the inventory changes
    (search-as-you-type asks on every key)."""
    current = memo.stamp(store, "vm_inventory", "1", {})
    where, params = _filters(bureau, {}, include_deleted=False)
    return memo.cached(
        store,
        ("search_index", bureau),
        current,
        lambda: [
            (*(str(v) for v in r), *(str(v).lower() for v in r))
            for r in store.rows(
                f"SELECT vm_id, name, bureau, system, pool, provider FROM ({CURRENT_VMS})"
                f" WHERE {where} ORDER BY vm_id",
                params,
            )
        ],
    )


def _grouped(rows: list[tuple[str, ...]], n: int) -> list[tuple[tuple[str, ...], int]]:
    """(key, VM count) per distinct key, in key order, the first ``n``."""
    counts: dict[tuple[str, ...], int] = {}
    for key in rows:
        counts[key] = counts.get(key, 0) + 1
    return sorted(counts.items())[:n]


def search(
    store: Store,
    text: str,
    *,
    bureau: str | None = None,
    invoices: bool = True,
    limit: int = 8,
) -> dict[str, list[dict[str, Any]]]:
    """Up to ``limit`` hits per kind, ids matched before names, each kind in id order."""
    q = text.strip()[:MAX_QUERY]
    out: dict[str, list[dict[str, Any]]] = {
        "vm": [], "system": [], "bureau": [], "pool": [], "invoice": []
    }  # fmt: skip
    if not q:
        return out
    p = q.lower()
    vms = _index(store, bureau)
    by_id = [v for v in vms if v[6].startswith(p)]
    by_name = [v for v in vms if not v[6].startswith(p) and v[7].startswith(p)]
    out["vm"] = [
        dict(zip(("vm_id", "name", "bureau", "system", "pool", "provider"), v[:6], strict=True))
        | {"by_id": int(i < len(by_id))}
        for i, v in enumerate([*by_id, *by_name][:limit])
    ]
    systems = _grouped([(v[3], v[2]) for v in vms if v[9].startswith(p)], limit)
    out["system"] = [{"bureau": b, "system": s, "vms": n} for (s, b), n in systems]
    bureaus = _grouped([(v[2],) for v in vms if v[8].startswith(p)], limit)
    out["bureau"] = [{"bureau": b, "vms": n} for (b,), n in bureaus]
    pools = _grouped(
        [(v[5], v[4]) for v in vms if v[10].startswith(p) or v[11].startswith(p)], limit
    )
    out["pool"] = [{"provider": pr, "pool": po, "vms": n} for (pr, po), n in pools]
    params = {"p": _like(q), "n": int(limit)}
    if invoices and bureau is None:
        out["invoice"] = store.dicts(
            """SELECT invoice_id, provider_invoice_no, provider, status FROM invoices FINAL
            WHERE lowerUTF8(invoice_id) LIKE %(p)s OR lowerUTF8(provider_invoice_no) LIKE %(p)s
                OR lowerUTF8(provider) LIKE %(p)s
            ORDER BY invoice_id LIMIT %(n)s""",
            params,
        )
    return out
