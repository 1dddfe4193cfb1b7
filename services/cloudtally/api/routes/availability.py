"""Availability from the meter, SLA credits and providers' fault reports.

A bureau token sees only the VMs its bureau owned, for the time it owned them
(``Principal.scope``); the buyer and auditors see every VM. Periods are local
calendar months, a fiscal year of the policy, or ``[from, to)``. Rules:
docs/availability.md.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request

from cloudtally.api.auth import AdminPrincipal, CurrentPrincipal, ReadAllPrincipal
from cloudtally.api.deps import StoreDep
from cloudtally.api.errors import ApiError
from cloudtally.api.export import AUTH_RESPONSES
from cloudtally.api.lang import NO_LANG, LangDep
from cloudtally.api.period import PolicyDep, check_bureau, parse_month
from cloudtally.api.routes.allocation import _period
from cloudtally.core.policy import Policy
from cloudtally.evaluation.availability import Scope, fiscal_year_span, month_span, report

router = APIRouter(prefix="/api/v1/availability", tags=["availability"], responses=AUTH_RESPONSES)

By = Literal["vm", "system", "bureau", "pool", "provider", "all"]
MAX_SPAN_S = 400 * 86400


def period_of(
    policy: Policy,
    month: str | None,
    fiscal_year: int | None,
    start: str | None,
    end: str | None,
) -> tuple[int, int]:
    """One of: a local month, a fiscal year, or [from, to) (at most ~13 months)."""
    given = sum(x is not None for x in (month, fiscal_year)) + (
        start is not None or end is not None
    )
    if given != 1:
        raise ApiError(422, "error.one_span")
    if month is not None:
        return month_span(policy, parse_month(month))
    if fiscal_year is not None:
        if not 2000 <= fiscal_year <= 2100:
            raise ApiError(422, "error.fiscal_year_range", value=fiscal_year)
        return fiscal_year_span(policy, fiscal_year)
    if start is None or end is None:
        raise ApiError(422, "error.from_to_together")
    t0, t1 = _period(start, end)
    if t1 <= t0 or t1 - t0 > MAX_SPAN_S:
        raise ApiError(422, "error.span_order")
    return t0, t1


def period_query(
    policy: PolicyDep,
    month: str | None = Query(None, description="YYYY-MM (local calendar month)"),
    fiscal_year: int | None = Query(None, description="fiscal year label, e.g. 2023"),
    start: str | None = Query(None, alias="from", description="ISO time or epoch s"),
    end: str | None = Query(None, alias="to", description="ISO time or epoch s (exclusive)"),
) -> tuple[int, int]:
    """The period of a request: one of month, fiscal_year or from/to."""
    return period_of(policy, month, fiscal_year, start, end)


Period = Annotated[tuple[int, int], Depends(period_query)]


@router.get("", summary="Availability per month and over the period, with targets and incidents")
def get_availability(
    store: StoreDep,
    policy: PolicyDep,
    principal: CurrentPrincipal,
    period: Period,
    by: By = "pool",
    bureau: str | None = None,
    pool: str | None = None,
    provider: str | None = None,
    vm_id: str | None = None,
    incidents: bool = True,
) -> dict[str, Any]:
    check_bureau(principal, bureau)
    t0, t1 = period
    scope = Scope(
        t0, t1, bureau=principal.scope or bureau, vm_id=vm_id, pool=pool, provider=provider
    )
    doc = report(store, policy, scope, by=by, incidents=incidents)
    doc["scope"] = {"bureau": scope.bureau, "pool": pool, "provider": provider, "vm_id": vm_id}
    return doc


@router.get("/credits", summary="SLA credits due per provider and month (buyer and auditors)")
def get_credits(
    store: StoreDep,
    policy: PolicyDep,
    _p: ReadAllPrincipal,
    month: str = Query(..., description="YYYY-MM"),
    provider: str | None = None,
    langs: LangDep = NO_LANG,
) -> list[dict[str, Any]]:
    """``derivation`` in the caller's language (lang= / Accept-Language; English default)."""
    from cloudtally.evaluation.credits import month_credits
    from cloudtally.i18n.sla import credit_sentence, pool_sentence

    first = parse_month(month)
    rows = [c.as_row() for c in month_credits(store, policy, first, provider=provider)]
    if langs.json != "en":
        for r in rows:
            r["derivation"] = credit_sentence(r, langs.json)
            for p in r["pools"]:
                p["derivation"] = pool_sentence(p, r["month"], langs.json)
    return rows


def _fault_upload_body() -> dict[str, Any]:
    """The invoice upload's multipart body with the fault report's two fields."""
    from copy import deepcopy

    from cloudtally.api.routes.invoices import UPLOAD_BODY

    body = deepcopy(UPLOAD_BODY)
    schema = body["requestBody"]["content"]["multipart/form-data"]["schema"]
    schema["properties"] = {
        "file": {
            "type": "string",
            "format": "binary",
            "description": "the provider's fault report: CSV (UTF-8 or GB18030) or XLSX; "
            "columns received, on site, resolved, analysis report delivered, severity, "
            "affected systems (Chinese or English headers)",
        },
        "provider": {"type": "string", "description": "provider id (policy)"},
    }
    return body


@router.post(
    "/faults",
    summary="Import a provider's fault report (admin); bad rows are rejected with reasons",
    openapi_extra=_fault_upload_body(),
    responses={
        413: {"description": "file larger than the configured limit"},
        415: {"description": "not multipart/form-data"},
        422: {"description": "missing provider or file, or a file that cannot be read"},
    },
)
async def post_faults(
    request: Request, store: StoreDep, policy: PolicyDep, _p: AdminPrincipal
) -> Any:
    """Through the invoice importer's bounded upload path (size, zip bombs, cell count)."""
    from fastapi.concurrency import run_in_threadpool
    from starlette.datastructures import UploadFile

    from cloudtally.api.lang import lang_of
    from cloudtally.api.uploads import TooLarge, bounded_form, form_field, save_upload, too_large
    from cloudtally.evaluation.faults import FaultImportError, import_file
    from cloudtally.i18n.reasons import fault_rejection
    from cloudtally.invoices.importer import ImportLimits

    limit = ImportLimits().max_bytes
    form = await bounded_form(request, limit, what="fault_report", max_files=1, max_fields=5)
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise ApiError(422, "error.no_fault_file")
        provider = form_field(form, "provider")
        if not provider:
            raise ApiError(422, "error.no_provider_policy")
        name = upload.filename or "faults.csv"
        folder = request.app.state.settings.data_dir / "fault-uploads"
        try:
            saved, _ = await run_in_threadpool(save_upload, upload, folder, limit)
        except TooLarge:
            raise too_large(limit) from None
    finally:
        await form.close()
    suffix = ".xlsx" if name.lower().endswith((".xlsx", ".xlsm")) else ".csv"
    path = saved.rename(saved.with_suffix(suffix))
    try:
        out = await run_in_threadpool(
            lambda: import_file(store, policy, path, provider=provider, file_name=name)
        )
        lang = lang_of(request)  # each rejected row's reason in the caller's language
        out["rejections"] = [fault_rejection(r, lang) for r in out["rejections"]]
        return out
    except FaultImportError as exc:  # the reason in the caller's language
        raise ApiError(422, "error.fault_file", reason=exc) from None
    finally:
        path.unlink(missing_ok=True)


@router.get("/faults", summary="Fault timeliness and the cross-check with metered downtime")
def get_faults(
    store: StoreDep,
    policy: PolicyDep,
    _p: ReadAllPrincipal,
    period: Period,
    provider: str | None = None,
) -> dict[str, Any]:
    from cloudtally.evaluation.faults import fault_report

    t0, t1 = period
    return fault_report(store, policy, t0, t1, provider=provider)
