"""A bureau's view of the providers' invoices: its own lines only, as the API gives it.

An invoice covers many bureaus; a bureau sees only the invoices in which the latest
verification attributed lines to it, with its own billed, over and under figures and its
own findings (the API's ``GET /api/v1/invoices`` and ``/findings`` with a bureau token:
the same read models, the same scope). Whole-invoice figures, the upload and the dispute
export stay the buyer's.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fastapi import HTTPException


def listed(store: Any, bureau: str) -> list[dict[str, Any]]:
    """The invoices with the bureau's lines, newest first, with the bureau's figures."""
    from cloudtally.api.routes.invoices import _bureau_totals
    from cloudtally.invoices import store as inv

    mine = _bureau_totals(store, bureau)
    out = []
    for i in reversed(inv.list_invoices(store)):
        t = mine.get(i["invoice_id"])
        if t is None:
            continue
        run = {"over_total": Decimal(t["over"]), "under_total": Decimal(t["under"])}
        out.append({**i, "provider_invoice_no": "", "billed_total": Decimal(t["billed"]),
                    "run": run})  # fmt: skip
    return out


def summary(store: Any, invoice_id: str, bureau: str) -> dict[str, Any]:
    """The invoice's summary over the bureau's lines; 404 without any (as the API)."""
    from cloudtally.invoices import store as inv

    s: dict[str, Any] = inv.summary(store, invoice_id, bureau=bureau)
    if s["run_id"] is None or not s["by_group"]:
        raise HTTPException(404, f"no lines of {bureau} in invoice {invoice_id}")
    return s
