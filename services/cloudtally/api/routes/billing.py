"""Billing routes: statements, bill lines with their derivation, budgets, rating runs,
and the buyer's actions (rate / re-rate, close a month, what-if).

Reads take the bureau scope of the token (``Principal.scope``) down into the
statement queries (:mod:`cloudtally.billing.statements`), which apply it in
SQL; a bureau never sees provider-level lines (volume tiers), which belong to
no bureau. Money leaves as exact decimal strings (``ExactJSONResponse``), CSV
cells as the same digits, XLSX cells as two-decimal numbers.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from cloudtally.api.auth import AdminPrincipal, CurrentPrincipal, ReadAllPrincipal
from cloudtally.api.deps import PageDep, StoreDep, parse_instant
from cloudtally.api.errors import ApiError
from cloudtally.api.export import (
    AUTH_RESPONSES,
    LANG_DOC,
    Lang,
    export_responses,
    items_response,
    table_response,
)
from cloudtally.api.freshness import billing_stamp, conditional
from cloudtally.api.lang import NO_LANG, LangDep, lang_of
from cloudtally.api.period import (
    PolicyDep,
    check_bureau,
    day_range,
    local_today,
    parse_month,
)
from cloudtally.api.responses import ExactJSONResponse
from cloudtally.audit.issue import IssueError, issued_statement, ledger_row
from cloudtally.audit.ledger import head_hash, record_policy_file
from cloudtally.billing import statements as st
from cloudtally.billing.rate import close_month, rate_period
from cloudtally.core.access import Principal
from cloudtally.core.idle import month_start
from cloudtally.core.policy import Policy, PolicyError, load_policy
from cloudtally.core.statements import month_bounds
from cloudtally.i18n import derivation
from cloudtally.i18n.validation import policy_lines
from cloudtally.store import Store

router = APIRouter(prefix="/api/v1/billing", tags=["billing"], responses=AUTH_RESPONSES)
SHEET_OK = export_responses("csv", "xlsx")

Dimension = Literal["provider", "pool", "bureau", "system"]
SheetFormat = Literal["json", "csv", "xlsx"]
ZERO = Decimal("0.00")

FormatQ = Annotated[
    SheetFormat, Query(alias="format", description="json (default), csv (UTF-8, BOM) or xlsx")
]
LangQ = Annotated[Lang, Query(description=LANG_DOC)]
MonthQ = Annotated[str | None, Query(description="calendar month, YYYY-MM (default: current)")]
FiscalYearQ = Annotated[
    int | None,
    Query(ge=2000, le=2100, description="fiscal year (1 Oct – 30 Sep), named by its end year"),
]
ByQ = Annotated[Dimension, Query(description="group rows by provider|pool|bureau|system")]
BureauQ = Annotated[
    str | None, Query(description="only this bureau (a bureau token may name only its own)")
]

LINE_COLUMNS = [
    "day", "vm_id", "bureau", "system", "pool", "provider", "resource", "tariff_version",
    "quantity", "unit", "unit_price", "price_divisor", "list_amount", "after_discount",
    "after_cut", "utilization_basis", "adjustments", "hours", "unmetered_hours", "run_id",
    "month_provisional", "calendar_provisional",
]  # fmt: skip
BUDGET_COLUMNS = [
    "scope", "fiscal_year", "budget", "accrued", "days_elapsed", "days_in_year", "forecast",
    "remaining",
]  # fmt: skip
MONEY = ("list_amount", "after_discount", "after_cut", "amount", "fee", "total")


def _plain(value: Any) -> Any:
    """Quantities without trailing zeros (21.0000000 → 21); money keeps its two places."""
    if not isinstance(value, Decimal):
        return value
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value.normalize()


def _period(
    policy: Policy,
    month: str | None,
    fiscal_year: int | None,
    day_from: dt.date | None = None,
    day_to: dt.date | None = None,
) -> tuple[dt.date | None, int | None, dt.date, dt.date]:
    """(month, fiscal_year, d0, d1); default: the current month."""
    given = sum(x is not None for x in (month, fiscal_year)) + (
        day_from is not None or day_to is not None
    )
    if given > 1:
        raise ApiError(422, "error.one_period")
    if fiscal_year is not None:
        d0, d1 = policy.fiscal_year_range(fiscal_year)
        return None, fiscal_year, d0, d1
    if day_from is not None or day_to is not None:
        # either missing → day_range refuses; the default is never used
        d0, d1 = day_range(None, day_from, day_to, (dt.date.min, dt.date.min), max_days=3660)
        return None, None, d0, d1
    first = parse_month(month) if month else local_today(policy).replace(day=1)
    d0, d1 = month_bounds(first)
    return first, None, d0, d1


def _scope(principal: Principal, bureau: str | None) -> str | None:
    check_bureau(principal, bureau)
    return principal.scope or bureau


# ---- statements ---------------------------------------------------------------------


@router.get(
    "/statements",
    responses=SHEET_OK,
    summary="Monthly or fiscal-year statement by provider, pool, bureau or system",
    description=(
        "Sums of the current bill lines of the period grouped by `by`: line count, list "
        "amount, after the tender discount, after the low-utilization cut. For admins and "
        "auditors the provider-level lines of the period (volume tiers, `provisional` until "
        "the month is closed, then `final`) follow as `adjustments`; `total` = lines + "
        "adjustments, every figure the exact sum of rounded lines. A bureau token gets its "
        "own bureau's lines only and no provider-level lines. `format=csv|xlsx` exports the "
        "same table (adjustment rows and a TOTAL row appended); `lang=zh` gives Chinese "
        "column headers."
    ),
)
def get_statement(
    request: Request,
    store: StoreDep,
    principal: CurrentPrincipal,
    policy: PolicyDep,
    month: MonthQ = None,
    fiscal_year: FiscalYearQ = None,
    by: ByQ = "provider",
    bureau: BureauQ = None,
    fmt: FormatQ = "json",
    langs: LangDep = NO_LANG,
) -> Response:
    lang = langs.of(fmt)
    scope = _scope(principal, bureau)
    first, fy, d0, d1 = _period(policy, month, fiscal_year)
    return conditional(
        request, store, principal, billing_stamp(store, d0, d1),
        lambda: _statement(store, policy, first, fy, d0, d1, by, scope, fmt, lang),
    )  # fmt: skip


def _statement(
    store: Store, policy: Policy, first: dt.date | None, fy: int | None, d0: dt.date,
    d1: dt.date, by: str, scope: str | None, fmt: str, lang: str,
) -> Response:  # fmt: skip
    s = st.statement(store, policy, month=first, fiscal_year=fy, by=by, bureau=scope)
    issued = issued_statement(store, first, bureau=scope) if first else None
    head = head_hash(store)
    if fmt != "json":
        keys, body = st.statement_table(s, lang)
        body = [*body, ledger_row(keys, head, issued, lang)]
        name = f"statement-{s.title}-{by}" + (f"-{scope}" if scope else "")
        return table_response(keys, body, fmt=fmt, lang=lang, filename=name)
    adjustments = [
        {**a, "details": json.loads(a["details"] or "{}"), "month": f"{a['month']:%Y-%m}"}
        for a in s.adjustments
    ]
    return ExactJSONResponse(
        {
            "title": s.title,
            "by": s.by,
            "day_from": d0,
            "day_to": d1,
            "bureau": scope,
            "rows": s.rows,
            "adjustments": adjustments,
            "lines_total": s.lines_total,
            "adjustments_total": s.total - s.lines_total,
            "total": s.total,
            "issued": _issued_summary(issued),
            "ledger_head": head,
        }
    )


def activate_policy(store: Store, request: Request, policy: Policy) -> None:
    """An admin act that fixes money with a policy puts that policy in force (ledger)."""
    record_policy_file(store, request.app.state.settings.policy_file, policy.name)


def _issued_summary(issued: dict[str, Any] | None) -> dict[str, Any] | None:
    """Which version these figures are: live lines, or a closed month's issued revision."""
    if issued is None or not issued["closed"]:
        return {"closed": False, "version": "live (provisional until the month is closed)"}
    keys = ("closed", "revision", "original", "net", "live", "pending_restatement")
    return {**{k: issued[k] for k in keys}, "corrections": len(issued["corrections"]),
            "version": f"issued revision {issued['revision']}"}  # fmt: skip


# ---- bill lines ---------------------------------------------------------------------


def explain(line: dict[str, Any], lang: str = "en") -> str:
    """The line's arithmetic in one sentence, from its recorded rules (cloudtally.i18n)."""
    return derivation.explain(line, lang)


def _line(row: dict[str, Any], lang: str = "en") -> dict[str, Any]:
    row = dict(row)
    row["adjustments"] = json.loads(row["adjustments"] or "[]")
    for k in ("quantity", "unit_price", "hours"):
        row[k] = _plain(row[k])
    for k in ("list_amount", "after_discount", "after_cut"):
        row[k] = Decimal(row[k]).quantize(ZERO)
    if row["utilization_basis"] is not None:
        row["utilization_basis"] = round(float(row["utilization_basis"]), 4)
    # provisional: a monthly cut judged on a month not yet complete / a year rated
    # without an official working-day calendar; both are re-derived by the stream
    for k in ("month_provisional", "calendar_provisional"):
        row[k] = bool(row.get(k, 0))
    row["derivation"] = explain(row, lang)  # with its provisional notes
    return row


@router.get(
    "/lines",
    responses=SHEET_OK,
    summary="Bill lines with their derivation (paginated)",
    description=(
        "Current bill lines (one per VM, resource, local day and tariff version), ordered by "
        "day, VM, resource. Each line carries its derivation: tariff version, quantity and "
        "unit, catalog unit price and divisor (monthly prices ÷ hours per month), the list "
        "amount, after the tender discount, after the low-utilization cut, the rules applied "
        "(`adjustments`), the utilization figure the cut was judged on (`utilization_basis`), "
        "billed and unmetered hours, the run that produced it, and `derivation`, the same in "
        "one sentence. `totals` sums every line the filters select, not just the page. A "
        "bureau token sees its own lines only."
    ),
)
def get_lines(
    request: Request,
    store: StoreDep,
    principal: CurrentPrincipal,
    page: PageDep,
    policy: PolicyDep,
    month: MonthQ = None,
    fiscal_year: FiscalYearQ = None,
    day_from: Annotated[dt.date | None, Query(description="first local day, YYYY-MM-DD")] = None,
    day_to: Annotated[dt.date | None, Query(description="end local day, exclusive")] = None,
    bureau: BureauQ = None,
    vm_id: Annotated[str | None, Query(description="only this VM")] = None,
    provider: Annotated[str | None, Query(description="only this provider")] = None,
    fmt: FormatQ = "json",
    langs: LangDep = NO_LANG,
) -> Response:
    lang = langs.of(fmt)
    scope = _scope(principal, bureau)
    _, _, d0, d1 = _period(policy, month, fiscal_year, day_from, day_to)
    return conditional(
        request, store, principal, billing_stamp(store, d0, d1),
        lambda: _lines(store, d0, d1, scope, vm_id, provider, page, fmt, lang),
    )  # fmt: skip


def _lines(
    store: Store, d0: dt.date, d1: dt.date, scope: str | None, vm_id: str | None,
    provider: str | None, page: Any, fmt: str, lang: str,
) -> Response:  # fmt: skip
    rows = st.lines(
        store, d0=d0, d1=d1, bureau=scope, vm_id=vm_id, provider=provider,
        limit=page.limit, offset=page.offset,
    )  # fmt: skip
    items = [_line(r, lang) for r in rows]
    totals = st.line_totals(store, d0, d1, bureau=scope, vm_id=vm_id, provider=provider)
    if fmt != "json":
        return items_response(
            items, fmt=fmt, lang=lang, filename=f"bill-lines-{d0}-{d1}", keys=LINE_COLUMNS,
            total=totals["lines"],
        )  # fmt: skip
    body = page.envelope(totals["lines"], items)
    return ExactJSONResponse({"day_from": d0, "day_to": d1, "totals": totals, **body})


# ---- budget ---------------------------------------------------------------------------


@router.get(
    "/budget",
    responses=SHEET_OK,
    summary="Budget status with accrued spend and a year-end forecast",
    description=(
        "For a fiscal year: the budget, the spend accrued so far, days elapsed (to the last "
        "rated day), the linear run-rate forecast of year-end spend and the remaining budget "
        "(negative = overrun). Admins and auditors get the programme (lines plus "
        "provider-level volume-tier lines) and every bureau; a bureau token gets its own "
        "bureau only."
    ),
)
def get_budget(
    request: Request,
    store: StoreDep,
    principal: CurrentPrincipal,
    policy: PolicyDep,
    fiscal_year: Annotated[
        int | None, Query(ge=2000, le=2100, description="fiscal year (default: the current one)")
    ] = None,
    bureau: BureauQ = None,
    fmt: FormatQ = "json",
    langs: LangDep = NO_LANG,
) -> Response:
    lang = langs.of(fmt)
    scope = _scope(principal, bureau)
    fy = fiscal_year or policy.fiscal_year_of(local_today(policy))
    d0, d1 = policy.fiscal_year_range(fy)
    return conditional(request, store, principal, billing_stamp(store, d0, d1),
                       lambda: _budget(store, policy, fy, scope, fmt, lang))  # fmt: skip


def _budget(
    store: Store, policy: Policy, fy: int, scope: str | None, fmt: str, lang: str
) -> Response:
    items = [
        {"scope": b.scope, **dataclasses.asdict(b.forecast)}
        for b in st.budget_status(store, policy, fy, bureau=scope)
    ]
    if fmt != "json":
        return items_response(
            items, fmt=fmt, lang=lang, filename=f"budget-FY{fy}", keys=BUDGET_COLUMNS
        )
    return ExactJSONResponse({"fiscal_year": fy, "items": items})


# ---- runs -----------------------------------------------------------------------------


@router.get(
    "/runs",
    summary="Rating runs: stream ratings, re-rates, what-ifs and month closes",
    description=(
        "Every rating run with who asked, when and why, the period, tariff versions, line "
        "count, total and the total it replaced; newest first. **Admin and auditor only** "
        "(a run's totals span every bureau)."
    ),
)
def get_runs(
    store: StoreDep,
    principal: ReadAllPrincipal,
    page: PageDep,
    kind: Annotated[
        Literal["stream", "rerate", "whatif", "close"] | None, Query(description="only this kind")
    ] = None,
) -> Response:
    params: dict[str, Any] = {"limit": page.limit, "offset": page.offset}
    where = "1"
    if kind is not None:
        params["kind"] = kind
        where = "kind = %(kind)s"
    total = store.scalar(f"SELECT count() FROM rating_runs WHERE {where}", params)
    rows = store.dicts(
        f"""SELECT run_id, kind, period_from, period_to, tariff_versions, vm_scope, reason,
            actor, policy_name, started_at, finished_at, line_count, vm_days, unpriced, total,
            previous_total
        FROM rating_runs WHERE {where}
        ORDER BY started_at DESC, version DESC, run_id
        LIMIT %(limit)s OFFSET %(offset)s""",
        params,
    )
    return ExactJSONResponse(page.envelope(int(total or 0), rows))


@router.get(
    "/runs/{run_id}/diff",
    responses=SHEET_OK,
    summary="A run's result against what was current before it, per key",
    description=(
        "For a re-rate: per provider, pool, bureau or system, the previous amount (the lines "
        "that were current for the same VM-days before the run), the run's amount and the "
        "difference. A bureau token sees its own bureau's rows only. 404 for an unknown run."
    ),
)
def get_run_diff(
    run_id: Annotated[str, Path(description="a run id from GET /runs or POST /rate")],
    store: StoreDep,
    principal: CurrentPrincipal,
    by: ByQ = "bureau",
    fmt: FormatQ = "json",
    langs: LangDep = NO_LANG,
) -> Response:
    lang = langs.of(fmt)
    # run_diff's own check (max(version) IS NULL) never fires: max() of nothing is 0 here
    known = store.scalar("SELECT count() FROM bill_current WHERE run_id = %(r)s", {"r": run_id})
    if not known:
        raise ApiError(404, "error.no_run_lines", run_id=run_id)
    try:
        rows = st.run_diff(store, run_id, by=by, bureau=principal.scope)
    except LookupError:
        raise ApiError(404, "error.no_run_lines", run_id=run_id) from None
    if fmt != "json":
        return items_response(
            rows, fmt=fmt, lang=lang, filename=f"run-diff-{run_id}",
            keys=[by, "previous", "current", "difference"],
        )  # fmt: skip
    return ExactJSONResponse({"run_id": run_id, "by": by, "rows": rows, **_sums(rows)})


def _sums(rows: list[dict[str, Any]], keys: tuple[str, ...] = ()) -> dict[str, Any]:
    keys = keys or ("previous", "current", "difference")
    return {"totals": {k: sum((r[k] for r in rows), ZERO) for k in keys}}


# ---- the buyer's actions ----------------------------------------------------------------


class Period(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    from_: str = Field(
        alias="from", description="start: ISO date/time or epoch s; naive = Asia/Shanghai"
    )
    to: str = Field(description="end, exclusive (widened to whole local days)")
    vm_ids: list[str] | None = Field(None, description="only these VMs (default: all)")
    tariff_version: str | None = Field(
        None,
        description="rate the whole period under this one tariff version of the policy "
        "(default: each day under the version in force)",
    )


class RateRequest(Period):
    rerate: bool = Field(False, description="record as a re-rate on request (needs a reason)")
    reason: str = Field("", max_length=1000, description="why (required for a re-rate)")


class CloseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    month: str = Field(description="YYYY-MM", examples=["2023-01"])
    reason: str = Field(
        "", max_length=2000, description="required when the month is already closed (restatement)"
    )
    reference: str = Field("", max_length=500, description="what caused a restatement")


class WhatIfRequest(Period):
    by: Dimension = Field("bureau", description="compare per provider|pool|bureau|system")
    bureau: str | None = Field(None, description="only this bureau")
    low_utilization_basis: Literal["daytime_weighted", "all_hours"] | None = Field(
        None, description="judge the low-utilization cut on this utilization instead"
    )
    policy_yaml: str | None = Field(
        None, description="a whole alternative policy file (YAML text) to rate under"
    )
    reason: str = Field("", max_length=1000)
    record: bool = Field(True, description="record the what-if in the runs log")


def _instants(req: Period) -> tuple[dt.datetime, dt.datetime]:
    t0, t1 = parse_instant(req.from_, "from"), parse_instant(req.to, "to")
    if t1 <= t0:
        raise ApiError(422, "error.to_after_from")
    if (t1 - t0).days > 400:
        raise ApiError(422, "error.period_too_long")
    return t0, t1


def pin_version(policy: Policy, label: str, t0: dt.datetime) -> Policy:
    """The policy with only version ``label``, in force from before ``t0``'s month."""
    version = next((v for v in policy.versions if v.version == label), None)
    if version is None:
        known = ", ".join(v.version for v in policy.versions)
        raise ApiError(422, "error.unknown_tariff_version", label=repr(label), known=known)
    start = month_start(t0.astimezone(policy.zone).date())
    pinned = version.model_copy(update={"effective_from": min(version.effective_from, start)})
    return policy.model_copy(update={"versions": [pinned]})


def with_cut_basis(policy: Policy, basis: str) -> Policy:
    """The policy with every low-utilization clause judged on ``basis``."""
    versions = []
    for v in policy.versions:
        providers = [
            p.model_copy(update={"low_utilization": p.low_utilization.model_copy(
                update={"basis": basis})}) if p.low_utilization else p
            for p in v.providers
        ]  # fmt: skip
        lu = v.low_utilization.model_copy(update={"basis": basis}) if v.low_utilization else None
        versions.append(v.model_copy(update={"low_utilization": lu, "providers": providers}))
    return policy.model_copy(update={"versions": versions})


@router.post(
    "/rate",
    status_code=201,
    summary="Rate or re-rate a period (admin)",
    description=(
        "Rates [from, to) — widened to whole local days — into bill lines and makes them "
        "current; the previous lines stay queryable under their run (compare with "
        "`GET /runs/{run_id}/diff`). With `rerate` the run is recorded as a re-rate on "
        "request, with its reason; the actor is the token's name. `tariff_version` rates "
        "the whole period under one version. Synchronous: a month at full scale takes "
        "tens of seconds."
    ),
)
def post_rate(
    req: RateRequest, store: StoreDep, principal: AdminPrincipal, policy: PolicyDep,
    request: Request,
) -> Response:  # fmt: skip
    t0, t1 = _instants(req)
    activate_policy(store, request, policy)
    rerate = req.rerate or req.tariff_version is not None
    if rerate and not req.reason.strip():
        raise ApiError(422, "error.rerate_reason")
    used = pin_version(policy, req.tariff_version, t0) if req.tariff_version else policy
    s = rate_period(
        store, used, t0, t1, vm_ids=req.vm_ids, run_kind="rerate" if rerate else "stream",
        reason=req.reason, actor=principal.name,
    )  # fmt: skip
    return ExactJSONResponse(
        {
            "run_id": s.run_id,
            "kind": s.kind,
            "period_from": s.period_from,
            "period_to": s.period_to,
            "tariff_versions": s.tariff_versions,
            "lines": s.line_count,
            "vm_days": s.vm_days,
            "vm_hours": s.vm_hours,
            "total": s.total,
            "previous_total": s.previous_total,
            "difference": s.total - s.previous_total,
            "unpriced": len(s.unpriced),
            "unpriced_examples": [list(u) for u in s.unpriced[:20]],
            "actor": principal.name,
            "reason": req.reason,
        },
        status_code=201,
    )


@router.post(
    "/close-month",
    responses={409: {}},
    summary="Close a month: final provider-level volume-tier lines (admin)",
    description=(
        "Computes each provider's volume-tier line for the month from its current bill "
        "lines and marks it final (before close, lines are provisional accruals), and issues "
        "the month (revision 0, a ledger entry). Closing an issued month again is a "
        "restatement: it needs a `reason` (409 without one) and issues revision n with the "
        "reversal and replacement of every changed line (docs/audit.md)."
    ),
)
def post_close_month(
    req: CloseRequest, store: StoreDep, principal: AdminPrincipal, policy: PolicyDep,
    request: Request,
) -> Response:  # fmt: skip
    first = parse_month(req.month)
    activate_policy(store, request, policy)
    try:
        rows = close_month(store, policy, first, actor=principal.name, reason=req.reason,
                           reference=req.reference)  # fmt: skip
    except IssueError as exc:
        raise HTTPException(409, str(exc)) from None
    items = [{**r, "details": json.loads(r["details"] or "{}"), "status": "final"} for r in rows]
    return ExactJSONResponse(
        {"month": f"{first:%Y-%m}", "items": items,
         "total": sum((r["amount"] for r in rows), ZERO)},
    )  # fmt: skip


@router.post(
    "/what-if",
    summary="What-if: the same period under another policy, difference per key (admin)",
    description=(
        "Rates [from, to) in memory under an alternative — one tariff version for the whole "
        "period, the low-utilization cut judged on another utilization basis, or a whole "
        "alternative policy file — and compares it with the live lines per provider, pool, "
        "bureau or system. Never changes bill lines (recorded in the runs log as `whatif` "
        "unless `record` is false)."
    ),
)
def post_what_if(
    req: WhatIfRequest,
    store: StoreDep,
    principal: AdminPrincipal,
    policy: PolicyDep,
    request: Request,
) -> Response:
    t0, t1 = _instants(req)
    alt = policy
    if req.policy_yaml is not None:
        try:
            # always text, never a path on this server (load_policy reads a one-line *.yaml)
            alt = load_policy(req.policy_yaml + "\n")
        except PolicyError as exc:
            lines = policy_lines(exc, lang_of(request))  # in the caller's language
            raise HTTPException(422, {"policy_yaml": lines}) from None
    if req.tariff_version is not None:
        alt = pin_version(alt, req.tariff_version, t0)
    if req.low_utilization_basis is not None:
        alt = with_cut_basis(alt, req.low_utilization_basis)
    rows = st.what_if(
        store, alt, t0, t1, by=req.by, bureau=req.bureau, vm_ids=req.vm_ids,
        reason=req.reason, actor=principal.name, record=req.record,
    )  # fmt: skip
    return ExactJSONResponse(
        {"by": req.by, "policy": alt.name, "rows": rows,
         **_sums(rows, ("live", "what_if", "difference"))},
    )  # fmt: skip
