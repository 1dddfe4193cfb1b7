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

from fastapi.responses import HTMLResponse


def listing(ctx: Any) -> HTMLResponse:
    """The invoices with the bureau's lines, newest first, with the bureau's figures."""
    from cloudtally.invoices import store as inv

    mine = inv.bureau_totals(ctx.store, ctx.scope)  # own_invoice_ids, with the figures
    listed = []
    for i in reversed(inv.list_invoices(ctx.store)):
        t = mine.get(i["invoice_id"])
        if t is not None:
            run = {"over_total": Decimal(t["over"]), "under_total": Decimal(t["under"])}
            listed.append({**i, "provider_invoice_no": "", "billed_total": Decimal(t["billed"]),
                           "run": run})  # fmt: skip
    return ctx.render("invoices.html", invoices=listed, providers=[])  # type: ignore[no-any-return]


def readable(ctx: Any, bureau: str | None) -> str | None:
    """The bureau filter of an invoice page. The buyer and auditors read every invoice; a
    bureau only its own lines (another bureau named: 403); whether the invoice has any of
    them is ``has_lines`` of the page's kept summary (404 otherwise, as the API)."""
    if ctx.scope is None:
        ctx.need_read_all()
        return bureau
    b: str | None = ctx.bureau_filter(bureau)
    return b


def has_lines(summary: dict[str, Any]) -> bool:
    """Whether a bureau's summary of an invoice shows lines of it in the latest run."""
    return summary["run_id"] is not None and any(g["lines"] for g in summary["by_group"])


def found(ctx: Any, text: str, limit: int = 8) -> list[dict[str, Any]]:
    """Search-everywhere's invoice hits for a bureau: only the invoices with its lines,
    by id or provider prefix (what its listing shows), in id order, as the buyer's are."""
    from cloudtally.invoices import store as inv
    from cloudtally.queries.search import MAX_QUERY

    p = text.strip()[:MAX_QUERY].lower()
    if not p:
        return []
    mine = own_invoice_ids(ctx)
    hits = [
        {"invoice_id": i["invoice_id"], "provider_invoice_no": "", "provider": i["provider"],
         "status": i["status"]}
        for i in inv.list_invoices(ctx.store)
        if i["invoice_id"] in mine
        and (i["invoice_id"].lower().startswith(p) or i["provider"].lower().startswith(p))
    ]  # fmt: skip
    return sorted(hits, key=lambda h: h["invoice_id"])[:limit]


def own_invoice_ids(ctx: Any) -> set[str]:
    """The invoices in whose latest verification the bureau has lines."""
    from cloudtally.invoices import store as inv

    return set(inv.bureau_totals(ctx.store, ctx.scope))
