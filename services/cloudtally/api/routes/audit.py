"""Audit routes: the ledger (admin, auditor), its verification, issued months with their
restatements (scoped like statements), restating a month and evidence packs.

The rules live in :mod:`cloudtally.audit`; these routes parse, authorise and format.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from cloudtally import metrics
from cloudtally.api.auth import AdminPrincipal, CurrentPrincipal, ReadAllPrincipal
from cloudtally.api.deps import PageDep, StoreDep
from cloudtally.api.errors import ApiError
from cloudtally.api.export import AUTH_RESPONSES
from cloudtally.api.period import PolicyDep, check_bureau, parse_month
from cloudtally.api.responses import ExactJSONResponse
from cloudtally.audit import issue, ledger, pack
from cloudtally.billing.rate import close_month

router = APIRouter(prefix="/api/v1/audit", tags=["audit"], responses=AUTH_RESPONSES)


def _entry(e: ledger.Entry) -> dict[str, Any]:
    return {
        "seq": e.seq, "entry_id": e.entry_id, "kind": e.kind,
        "subject": {k: v for k, v in e.subject.items() if k != "columns"},
        "content_hash": e.content_hash, "row_count": e.row_count, "actor": e.actor,
        "reason": e.reason, "at": e.at, "prev_hash": e.prev_hash, "entry_hash": e.entry_hash,
    }  # fmt: skip


@router.get(
    "/ledger",
    summary="Ledger entries, oldest first (admin, auditor)",
    description="Every act that fixed money or policy, hash-chained; `head` is the newest hash.",
)
def get_ledger(
    store: StoreDep,
    principal: ReadAllPrincipal,
    page: PageDep,
    kind: Annotated[str | None, Query(max_length=40, description="only this kind")] = None,
) -> Response:
    rows = ledger.entries(store, kind=kind)
    items = [_entry(e) for e in rows[page.offset : page.offset + page.limit]]
    return ExactJSONResponse({**page.envelope(len(rows), items), "head": ledger.head_hash(store)})


@router.get(
    "/verify",
    summary="Recompute every ledger hash from the rows in the store (admin, auditor)",
)
def get_verify(store: StoreDep, principal: ReadAllPrincipal) -> Response:
    report = ledger.verify(store)
    metrics.record_audit(report)
    return ExactJSONResponse(report.as_dict())


@router.get(
    "/months/{month}",
    summary="A closed month as issued: original, each restatement, net (scoped)",
    description=(
        "`original` is revision 0 as first issued, `corrections` each restatement (红冲) with "
        "its reason and reference, `net` the issued figure now and `live` what the current bill "
        "lines say (`pending_restatement` when they differ). A bureau sees its own lines only."
    ),
)
def get_issued_month(
    month: str,
    store: StoreDep,
    principal: CurrentPrincipal,
    bureau: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    check_bureau(principal, bureau)
    first = parse_month(month)
    return ExactJSONResponse(issue.issued_statement(store, first, bureau=principal.scope or bureau))


class RestateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    month: str = Field(description="YYYY-MM, a closed month")
    reason: str = Field(min_length=3, max_length=2000, description="why the issued month changes")
    reference: str = Field("", max_length=500, description="what caused it: ticket, dispute, run")


@router.post(
    "/restatements",
    status_code=201,
    responses={409: {}},
    summary="Issue a restatement of a closed month from its current lines (admin)",
)
def post_restatement(
    req: RestateRequest, store: StoreDep, principal: AdminPrincipal, policy: PolicyDep
) -> Response:
    first = parse_month(req.month)
    if not issue.is_issued(store, first):
        raise ApiError(409, "error.month_not_closed", month=f"{first:%Y-%m}")
    try:
        close_month(store, policy, first, actor=principal.name, reason=req.reason,
                    reference=req.reference)  # fmt: skip
    except issue.IssueError as exc:
        raise HTTPException(409, str(exc)) from None
    if issue.latest_revision(store, first) == 0:
        raise ApiError(409, "error.nothing_changed", month=f"{first:%Y-%m}")
    return ExactJSONResponse(issue.issued_statement(store, first), status_code=201)


@router.get(
    "/packs",
    summary="Evidence pack (zip): a bureau's or provider's month, or an invoice (admin, auditor)",
    responses={200: {"content": {"application/zip": {}}}, 404: {}, 409: {}},
)
def get_pack(
    store: StoreDep,
    principal: ReadAllPrincipal,
    month: Annotated[str | None, Query(description="YYYY-MM (bureau or provider)")] = None,
    bureau: Annotated[str | None, Query(max_length=200)] = None,
    provider: Annotated[str | None, Query(max_length=200)] = None,
    invoice: Annotated[str | None, Query(max_length=200, description="an invoice")] = None,
    raw: Annotated[bool, Query(description="include the raw samples")] = False,
) -> Response:
    if invoice is None and ((bureau is None) == (provider is None) or month is None):
        raise ApiError(422, "error.pack_subject")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "pack.zip"
        try:
            if invoice is not None:
                if not any(e.subject.get("invoice_id") == invoice
                           for e in ledger.entries(store, kind="invoice_imported")):  # fmt: skip
                    raise ApiError(404, "error.no_ledger_invoice", invoice=repr(invoice))
                info = pack.build_invoice(store, invoice, out)
            else:
                info = pack.build(store, parse_month(month or ""), out, bureau=bureau,
                                  provider=provider, raw=raw)  # fmt: skip
        except ValueError as exc:
            raise HTTPException(409, str(exc)) from None
        body = out.read_bytes()
    return Response(
        body,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{info["folder"]}.zip"'},
    )
