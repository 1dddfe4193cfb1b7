"""Scorecard routes (buyer and auditor only): the annual performance evaluation per pool,
as JSON, XLSX or the printable HTML report; the buyer's manual entries, budget figures
and survey imports. The rules are in :mod:`cloudtally.core.scorecard`; docs/scorecard.md.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from cloudtally import metrics
from cloudtally.api.auth import AdminPrincipal, ReadAllPrincipal
from cloudtally.api.deps import StoreDep
from cloudtally.api.errors import ApiError
from cloudtally.api.export import AUTH_RESPONSES
from cloudtally.api.lang import NO_LANG, LangDep
from cloudtally.api.period import PolicyDep
from cloudtally.api.responses import ExactJSONResponse
from cloudtally.audit import ledger
from cloudtally.core.scorecard.scheme import Scheme
from cloudtally.core.scorecard.survey import SurveyError
from cloudtally.policy import scorecard_scheme
from cloudtally.scorecard import entries
from cloudtally.scorecard.gather import build
from cloudtally.scorecard.report import card_html, card_json, card_xlsx, plain
from cloudtally.scorecard.survey import import_survey
from cloudtally.tabular import TableError

router = APIRouter(prefix="/api/v1/scorecards", tags=["scorecards"], responses=AUTH_RESPONSES)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAX_SURVEY_BYTES = 4 << 20
Year = Annotated[int, Field(ge=2000, le=2100)]
YearPath = Annotated[int, PathParam(ge=2000, le=2100, description="fiscal year, by its end year")]
Ident = Annotated[str, Field(max_length=64)]


def _scheme(request: Request) -> Scheme:
    try:
        return scorecard_scheme(request.app.state.settings.scorecard_file)
    except ValueError as exc:
        raise HTTPException(500, f"scorecard scheme file: {exc}") from None


def _pool_exists(policy: Any, provider: str, pool: str, status: int = 404) -> None:
    """A scope the tariff policy knows ('' = every provider / every pool of the provider)."""
    if pool and not provider:
        raise ApiError(422, "error.pool_needs_provider")
    if provider and not any(v.provider(provider) for v in policy.versions):
        raise HTTPException(status, f"no provider {provider!r} in the tariff policy")
    if pool and not any(v.pool(provider, pool) for v in policy.versions):
        raise HTTPException(status, f"no pool {provider}/{pool} in the tariff policy")


@router.get("/scheme", summary="The evaluation scheme in force for a fiscal year (admin, auditor)")
def get_scheme(
    request: Request,
    principal: ReadAllPrincipal,
    fiscal_year: Annotated[int, Query(ge=2000, le=2100)],
) -> Response:
    return ExactJSONResponse(_scheme(request).version_for(fiscal_year).model_dump(mode="json"))


@router.get(
    "/{fiscal_year}",
    summary="Every pool's total and grade for a fiscal year (admin, auditor)",
)
def get_year(
    fiscal_year: YearPath, request: Request, store: StoreDep, principal: ReadAllPrincipal,
    policy: PolicyDep,
) -> Response:  # fmt: skip
    scheme = _scheme(request)
    pools = sorted({(p.id, q.id) for v in policy.versions for p in v.providers for q in p.pools})
    items = []
    for provider, pool in pools:
        card = build(store, policy, scheme, fiscal_year, provider, pool)
        items.append({"provider": provider, "pool": pool, "total": plain(card.total),
                      "grade": card.grade.grade, "complete": card.complete,
                      "missing": len(card.missing)})  # fmt: skip
    return ExactJSONResponse({"fiscal_year": fiscal_year, "total": len(items), "items": items})


@router.get(
    "/{fiscal_year}/{provider}/{pool}",
    summary="One pool's scorecard: JSON, XLSX or printable HTML (admin, auditor)",
    description=(
        "Every indicator of the scheme with its weight, rule, measured figure, evidence and "
        "points; the total (exact, graded unrounded) and grade. `format=xlsx` downloads the "
        "table, summary and evidence; `format=html` is the printable report laid out like "
        "seed 003's 附件."
    ),
    responses={200: {"content": {XLSX: {}, "text/html": {}}}, 404: {}},
)
def get_card(
    fiscal_year: YearPath, provider: str, pool: str, request: Request, store: StoreDep,
    principal: ReadAllPrincipal, policy: PolicyDep,
    format: Annotated[Literal["json", "xlsx", "html"], Query()] = "json",
    langs: LangDep = NO_LANG,
) -> Response:  # fmt: skip
    _pool_exists(policy, provider, pool)
    card = build(store, policy, _scheme(request), fiscal_year, provider, pool)
    doc = card_json(card, lang=langs.of(format), ledger_head=ledger.head_hash(store))
    name = f"scorecard-{fiscal_year}-{provider}-{pool}"
    if format == "xlsx":
        disposition = f'attachment; filename="{name}.xlsx"'
        return Response(card_xlsx(doc), media_type=XLSX,
                        headers={"Content-Disposition": disposition})  # fmt: skip
    if format == "html":
        return HTMLResponse(card_html(doc))
    return ExactJSONResponse(doc)


class PointsEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    fiscal_year: Year
    indicator: str = Field(max_length=48, description="indicator code of the scheme")
    points: str = Field(max_length=12, description="0 … weight (a deduction: weight … 0)")
    comment: str = Field(min_length=2, max_length=2000, description="what the points rest on")
    evidence: str = Field("", max_length=500, description="document reference")
    provider: Ident = ""
    pool: Ident = ""


class BudgetEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    fiscal_year: Year
    approved: str | None = Field(None, description="预算批复金额, CNY")
    available: str | None = Field(None, description="实际到位资金, CNY")
    paid: str | None = Field(None, description="实际支出资金, CNY")
    reduced_to_other: str | None = Field(None, description="调减至其他项目使用金额, CNY")
    recovered: str | None = Field(None, description="财政回收金额, CNY")
    comment: str = Field(min_length=2, max_length=2000)
    provider: Ident = ""
    pool: Ident = ""


def _refused(exc: Exception) -> HTTPException:
    metrics.SCORECARD_INPUTS.labels("entry", "rejected").inc()
    return HTTPException(422, str(exc))


@router.post("/entries", status_code=201, responses={422: {}},
             summary="Enter (or adjust) an indicator's points with a comment (admin)")  # fmt: skip
def post_entry(
    req: PointsEntry, request: Request, store: StoreDep, principal: AdminPrincipal,
    policy: PolicyDep,
) -> Response:  # fmt: skip
    _pool_exists(policy, req.provider, req.pool, 422)
    scheme = _scheme(request).version_for(req.fiscal_year)
    try:
        out = entries.enter_points(
            store, principal, scheme, fiscal_year=req.fiscal_year, code=req.indicator,
            points=req.points, comment=req.comment, provider=req.provider, pool=req.pool,
            evidence=req.evidence,
        )  # fmt: skip
    except entries.EntryError as exc:
        raise _refused(exc) from None
    metrics.SCORECARD_INPUTS.labels("entry", "recorded").inc()
    return ExactJSONResponse(out, status_code=201)


@router.post("/budget", status_code=201, responses={422: {}},
             summary="Record the fiscal year's budget figures (admin)")  # fmt: skip
def post_budget(
    req: BudgetEntry, store: StoreDep, principal: AdminPrincipal, policy: PolicyDep
) -> Response:
    _pool_exists(policy, req.provider, req.pool, 422)
    figures = req.model_dump(include=set(entries.BUDGET_FIELDS))
    try:
        payload = entries.check_budget(figures)
        out = entries.record(store, principal, fiscal_year=req.fiscal_year, subject="budget",
                             payload=payload, comment=req.comment, provider=req.provider,
                             pool=req.pool)  # fmt: skip
    except entries.EntryError as exc:
        raise _refused(exc) from None
    metrics.SCORECARD_INPUTS.labels("entry", "recorded").inc()
    return ExactJSONResponse(out, status_code=201)


@router.post(
    "/surveys",
    status_code=201,
    responses={413: {}, 422: {}},
    summary="Import a satisfaction survey (CSV or XLSX body) for a fiscal year (admin)",
    description=(
        "The request body is the file itself; `file_name` (its extension picks CSV or XLSX). "
        "Counts or percentages per answer (非常满意, 比较满意, 一般, 不满意), long or wide "
        "layout (docs/scorecard.md). A refused file records nothing and lists each problem."
    ),
)
async def post_survey(
    request: Request, store: StoreDep, principal: AdminPrincipal, policy: PolicyDep,
    fiscal_year: Annotated[int, Query(ge=2000, le=2100)],
    file_name: Annotated[str, Query(max_length=200)] = "survey.csv",
    provider: Annotated[str, Query(max_length=64)] = "",
    pool: Annotated[str, Query(max_length=64)] = "",
    basis: Annotated[Literal["auto", "counts", "percent"], Query()] = "auto",
) -> Response:  # fmt: skip
    _pool_exists(policy, provider, pool, 422)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_SURVEY_BYTES:
        raise ApiError(413, "error.survey_too_big", limit=f"{MAX_SURVEY_BYTES:,}")
    body = await request.body()
    if len(body) > MAX_SURVEY_BYTES:
        raise ApiError(413, "error.survey_too_big", limit=f"{MAX_SURVEY_BYTES:,}")
    suffix = ".xlsx" if file_name.lower().endswith((".xlsx", ".xlsm")) else ".csv"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"survey{suffix}"
        path.write_bytes(body)
        try:
            out = await run_in_threadpool(
                lambda: import_survey(store, principal, path, fiscal_year=fiscal_year,
                                      provider=provider, pool=pool, basis=basis,
                                      file_name=Path(file_name).name)
            )  # fmt: skip
        except SurveyError as exc:
            raise HTTPException(422, {"problems": exc.problems}) from None
        except TableError as exc:
            raise HTTPException(422, {"problems": [str(exc)]}) from None
    return ExactJSONResponse(out, status_code=201)


@router.get("/entries/{fiscal_year}", summary="Every entry of a fiscal year (admin, auditor)")
def get_entries(fiscal_year: int, store: StoreDep, principal: ReadAllPrincipal) -> Response:
    rows = entries.history(store, fiscal_year)
    return ExactJSONResponse({"total": len(rows), "items": rows})
