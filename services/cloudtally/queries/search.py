"""Search-everywhere: VMs, systems, bureaus, pools and invoices by id or name prefix.

Matches are case-insensitive prefixes of an id or a name (what staff type from a
ticket or a bill). VMs, systems, bureaus and pools come from the current
inventory read model under the caller's bureau scope; invoices only for
principals that read everything.
"""

from __future__ import annotations

from typing import Any

from cloudtally.queries.inventory import CURRENT_VMS, _filters
from cloudtally.store import Store

MAX_QUERY = 64


def _like(prefix: str) -> str:
    escaped = prefix.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


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
    where, params = _filters(bureau, {}, include_deleted=False)
    params = {**params, "p": _like(q), "n": int(limit)}
    cur = f"(SELECT vm_id, name, bureau, system, pool, provider FROM ({CURRENT_VMS}) WHERE {where})"
    out["vm"] = store.dicts(
        f"""SELECT vm_id, name, bureau, system, pool, provider,
            lowerUTF8(vm_id) LIKE %(p)s AS by_id
        FROM {cur} AS v
        WHERE lowerUTF8(vm_id) LIKE %(p)s OR lowerUTF8(name) LIKE %(p)s
        ORDER BY by_id DESC, vm_id LIMIT %(n)s""",
        params,
    )
    out["system"] = store.dicts(
        f"""SELECT bureau, system, count() AS vms FROM {cur} AS v
        WHERE lowerUTF8(system) LIKE %(p)s GROUP BY bureau, system
        ORDER BY system, bureau LIMIT %(n)s""",
        params,
    )
    out["bureau"] = store.dicts(
        f"""SELECT bureau, count() AS vms FROM {cur} AS v
        WHERE lowerUTF8(bureau) LIKE %(p)s GROUP BY bureau ORDER BY bureau LIMIT %(n)s""",
        params,
    )
    out["pool"] = store.dicts(
        f"""SELECT provider, pool, count() AS vms FROM {cur} AS v
        WHERE lowerUTF8(pool) LIKE %(p)s OR lowerUTF8(provider) LIKE %(p)s
        GROUP BY provider, pool ORDER BY provider, pool LIMIT %(n)s""",
        params,
    )
    if invoices and bureau is None:
        out["invoice"] = store.dicts(
            """SELECT invoice_id, provider_invoice_no, provider, status FROM invoices FINAL
            WHERE lowerUTF8(invoice_id) LIKE %(p)s OR lowerUTF8(provider_invoice_no) LIKE %(p)s
                OR lowerUTF8(provider) LIKE %(p)s
            ORDER BY invoice_id LIMIT %(n)s""",
            params,
        )
    return out
