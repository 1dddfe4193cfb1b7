"""Utilization routes: day / all-hours / night utilization, pool KPIs and reclaim candidates.

Every figure comes from :mod:`cloudtally.analytics.queries`, which applies the
bureau scope (``Principal.scope``) inside the SQL. Periods are local
(Asia/Shanghai) days, ``[day_from, day_to)``; utilization rules (thresholds,
windows, night hours) come from the tariff/policy version in force at the
period's last day.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response

from cloudtally.analytics.queries import (
    MAX_LIMIT,
    find_idle,
    find_rightsizing,
    find_storage_idle,
    pool_kpis,
    utilization,
)
from cloudtally.api.auth import CurrentPrincipal, ReadAllPrincipal
from cloudtally.api.deps import Page, PageDep, StoreDep
from cloudtally.api.errors import ApiError
from cloudtally.api.export import (
    AUTH_RESPONSES,
    LANG_DOC,
    Lang,
    export_responses,
    items_response,
)
from cloudtally.api.freshness import conditional, usage_stamp
from cloudtally.api.lang import NO_LANG, LangDep
from cloudtally.api.period import (
    PolicyDep,
    check_bureau,
    day_range,
    local_today,
    parse_month,
    parse_quarter,
    version_for,
)
from cloudtally.api.responses import ExactJSONResponse
from cloudtally.core.access import Principal
from cloudtally.core.idle import (
    UnitPrices,
    VmWindowStats,
    month_start,
    review_quarter,
    storage_months,
)
from cloudtally.core.policy import Policy
from cloudtally.core.savings import annual_prices as pool_annual_prices
from cloudtally.i18n import translate
from cloudtally.i18n.candidates import explain as explain_candidate
from cloudtally.store import Store

router = APIRouter(prefix="/api/v1/utilization", tags=["utilization"], responses=AUTH_RESPONSES)
CSV_OK = export_responses("csv")

Level = Literal["vm", "system", "bureau", "pool", "provider"]
TableFormat = Literal["json", "csv"]

LEVEL_COLUMNS: dict[str, list[str]] = {
    "vm": ["vm_id", "bureau", "system", "pool", "provider", "vcpu", "mem_gb"],
    "system": ["bureau", "system"],
    "bureau": ["bureau"],
    "pool": ["provider", "pool"],
    "provider": ["provider"],
}
FIGURE_COLUMNS = [
    "day_from", "day_to", "vms", "cpu_day", "cpu_all", "cpu_night", "mem_day", "mem_all",
    "mem_night", "night_heavy", "samples", "coverage", "day_coverage", "vcpu_hours",
    "mem_gb_hours",
]  # fmt: skip
KPI_COLUMNS = [
    "month", "vms", "coverage", "cpu_pct", "mem_pct", "storage_pct", "utilization_pct",
    "points_2", "points_10", "no_data",
]  # fmt: skip
CANDIDATE_COLUMNS = [
    "kind", "vm_id", "disk_id", "bureau", "system", "pool", "provider", "freed_vcpu",
    "freed_mem_gb", "freed_storage_gb", "savings_year", "explanation", "evidence",
]  # fmt: skip

# Shared query parameters (documented once).
FormatQ = Annotated[TableFormat, Query(alias="format", description="json (default) or csv")]
LangQ = Annotated[Lang, Query(description=LANG_DOC)]
MonthQ = Annotated[
    str | None, Query(description="a calendar month, YYYY-MM (instead of day_from/day_to)")
]
DayFromQ = Annotated[dt.date | None, Query(description="first local day (inclusive), YYYY-MM-DD")]
DayToQ = Annotated[dt.date | None, Query(description="last local day, exclusive, YYYY-MM-DD")]
VmQ = Annotated[str | None, Query(description="only this VM")]
BureauQ = Annotated[
    str | None, Query(description="only this bureau (a bureau token may name only its own)")
]
SystemQ = Annotated[str | None, Query(description="only this business system")]
PoolQ = Annotated[str | None, Query(description="only this resource pool")]
ProviderQ = Annotated[str | None, Query(description="only this provider")]
AsOfQ = Annotated[
    dt.date | None,
    Query(description="evaluate the window ending before this local day (default: today)"),
]


def _bad(exc: ValueError) -> HTTPException:
    return HTTPException(422, str(exc))


def _export(
    items: list[dict[str, Any]], keys: list[str], fmt: str, lang: str, name: str, total: int
) -> Response:
    return items_response(items, fmt=fmt, lang=lang, filename=name, keys=keys, total=total)


@router.get(
    "",
    responses=CSV_OK,
    summary="CPU and memory utilization by VM, system, bureau, pool or provider",
    description=(
        "Capacity-weighted utilization over a period of local days, three ways: **day** "
        "(business hours of official working days, weighted by the policy calendar), **all** "
        "hours and **night** only — so a VM idle by day and busy at night (`night_heavy`) "
        "shows at a glance. Metering gaps are gaps: `coverage` is the share of expected "
        "samples received, `day_coverage` the same over business hours. Default period: "
        "the current month. A bureau token sees its own bureau only."
    ),
)
def get_utilization(
    request: Request,
    store: StoreDep,
    principal: CurrentPrincipal,
    page: PageDep,
    policy: PolicyDep,
    level: Annotated[Level, Query(description="row: vm|system|bureau|pool|provider")] = "vm",
    month: MonthQ = None,
    day_from: DayFromQ = None,
    day_to: DayToQ = None,
    vm_id: VmQ = None,
    bureau: BureauQ = None,
    system: SystemQ = None,
    pool: PoolQ = None,
    provider: ProviderQ = None,
    fmt: FormatQ = "json",
    langs: LangDep = NO_LANG,
) -> Response:  # fmt: skip
    lang = langs.of(fmt)
    check_bureau(principal, bureau)
    today = local_today(policy)
    d0, d1 = day_range(month, day_from, day_to, (today.replace(day=1), today + dt.timedelta(1)))
    filters = dict(vm_id=vm_id, bureau=bureau, system=system, pool=pool, provider=provider)
    return conditional(
        request, store, principal, usage_stamp(store, d0, d1),
        lambda: _utilization(store, principal, page, policy, level, d0, d1, filters, fmt, lang),
    )  # fmt: skip


def _utilization(
    store: Store, principal: Principal, page: Page, policy: Policy, level: Any, d0: dt.date,
    d1: dt.date, filters: dict[str, str | None], fmt: str, lang: str,
) -> Response:  # fmt: skip
    try:
        res = utilization(
            store, level, d0, d1, bureau_scope=principal.scope, filters=filters,
            limit=page.limit, offset=page.offset,
            policy=version_for(policy, d1 - dt.timedelta(days=1)).utilization,
        )  # fmt: skip
    except ValueError as exc:
        raise _bad(exc) from None
    if fmt != "json":
        keys = LEVEL_COLUMNS[level] + FIGURE_COLUMNS
        return _export(
            res["items"], keys, fmt, lang, f"utilization-{level}-{d0}-{d1}", res["total"]
        )
    body = page.envelope(res["total"], res["items"])
    return ExactJSONResponse({"level": level, "day_from": d0, "day_to": d1, **body})


@router.get(
    "/pools",
    responses=CSV_OK,
    summary="Pool (or provider) KPIs for a month with the evaluation scores",
    description=(
        "CPU, memory and storage utilization (all hours) per resource pool or provider for "
        "one calendar month, the pool utilization (their mean) and both evaluation scores "
        "(`points_2`: ≥65 % → 2, 60–65 % → 1, else 0; `points_10`: ≥70 → 10 … <20 → 0; no "
        "data scores the lowest band: a pool of the tariff without any usage in the month is "
        "listed with `no_data: true`). Bands use the exact figure (19.99 % is below 20); "
        "figures are rounded for display only. Bands come from the policy file.\n\n"
        "**Admin and auditor only.** Pool KPIs are pool-wide figures over every bureau's VMs "
        "— the buyer's evaluation of the providers, not a bureau's data — and in a pool "
        "shared by few bureaus they would disclose the others' usage. A bureau sees its own "
        "utilization per pool through `GET /api/v1/utilization?level=pool`."
    ),
)
def get_pool_kpis(
    store: StoreDep,
    principal: ReadAllPrincipal,
    page: PageDep,
    policy: PolicyDep,
    month: Annotated[
        str | None, Query(description="YYYY-MM (default: the last complete month)")
    ] = None,
    level: Annotated[Literal["pool", "provider"], Query(description="pool or provider")] = "pool",
    pool: PoolQ = None,
    provider: ProviderQ = None,
    fmt: FormatQ = "json",
    langs: LangDep = NO_LANG,
) -> Response:
    lang = langs.of(fmt)
    first = parse_month(month) if month else month_start(local_today(policy), 1)
    version = version_for(policy, first)
    try:
        res = pool_kpis(
            store, first, level=level, filters={"pool": pool, "provider": provider},
            policy=version.utilization,
            tariff_pools=[(p.id, pl.id) for p in version.providers for pl in p.pools],
        )  # fmt: skip
    except ValueError as exc:
        raise _bad(exc) from None
    items = res["items"][page.offset : page.offset + page.limit]
    if fmt != "json":
        keys = LEVEL_COLUMNS[level] + KPI_COLUMNS
        return _export(items, keys, fmt, lang, f"pool-kpis-{level}-{first:%Y-%m}", res["total"])
    return ExactJSONResponse(
        {"level": level, "month": f"{first:%Y-%m}", **page.envelope(res["total"], items)}
    )


def _candidates(
    res: dict[str, Any], page: Any, fmt: str, lang: str, name: str, **extra: Any
) -> Response:
    for c in res["items"]:  # the evidence in the caller's words
        c["explanation"] = explain_candidate(c, lang)
    if fmt != "json":
        return _export(res["items"], CANDIDATE_COLUMNS, fmt, lang, name, res["total"])
    body = page.envelope(res["total"], res["items"])
    return ExactJSONResponse({**extra, **{k: v for k, v in res.items() if k not in body}, **body})


@router.get(
    "/candidates/idle",
    responses=CSV_OK,
    summary="Idle-reclaim candidates with their evidence",
    description=(
        "VMs whose CPU and memory averages and maxima stayed under the idle rule over the "
        "policy's window (seed rule: 14 days, average < 5 %, maximum < 10 %) ending before "
        "`as_of`. A VM metered for less than the rule's minimum coverage is never idle "
        "(a gap is no evidence). `evidence` carries the window, the figures, samples and "
        "coverage; `freed_vcpu`/`freed_mem_gb` are what reclaiming it frees, `savings_year` "
        "what that saves a year at its pool's prices."
    ),
)
def get_idle(
    request: Request,
    store: StoreDep,
    principal: CurrentPrincipal,
    page: PageDep,
    policy: PolicyDep,
    as_of: AsOfQ = None,
    bureau: BureauQ = None,
    system: SystemQ = None,
    pool: PoolQ = None,
    provider: ProviderQ = None,
    fmt: FormatQ = "json",
    langs: LangDep = NO_LANG,
) -> Response:
    lang = langs.of(fmt)
    filters = dict(bureau=bureau, system=system, pool=pool, provider=provider)

    def priced(store: Store, end: dt.date, **kw: Any) -> dict[str, Any]:
        """With what reclaiming each VM would save a year, at its pool's prices."""
        _label, of = annual_prices(policy, end - dt.timedelta(days=1))
        return find_idle(store, end, prices=of, **kw)

    return _window_candidates(request, priced, "idle", store, principal, page, policy, as_of,
                              filters, fmt, lang)  # fmt: skip


@router.get(
    "/candidates/storage-idle",
    responses=CSV_OK,
    summary="Idle-storage candidates (disks nearly empty for consecutive months)",
    description=(
        "Disks (partitions) whose used share stayed under the storage rule in each of the "
        "last N complete calendar months before `as_of` (seed rule: < 5 % for 2 months), "
        "each month's figure and coverage in `evidence`."
    ),
)
def get_storage_idle(
    request: Request,
    store: StoreDep,
    principal: CurrentPrincipal,
    page: PageDep,
    policy: PolicyDep,
    as_of: AsOfQ = None,
    bureau: BureauQ = None,
    system: SystemQ = None,
    pool: PoolQ = None,
    provider: ProviderQ = None,
    fmt: FormatQ = "json",
    langs: LangDep = NO_LANG,
) -> Response:
    lang = langs.of(fmt)
    filters = dict(bureau=bureau, system=system, pool=pool, provider=provider)
    return _window_candidates(request, find_storage_idle, "storage-idle", store, principal, page,
                              policy, as_of, filters, fmt, lang)  # fmt: skip


def _window_candidates(
    request: Request,
    finder: Callable[..., dict[str, Any]],
    label: str,
    store: Store,
    principal: Principal,
    page: Page,
    policy: Policy,
    as_of: dt.date | None,
    filters: dict[str, str | None],
    fmt: str,
    lang: str,
) -> Response:
    """Idle and storage-idle candidates: the rule's window ends before ``as_of``."""
    check_bureau(principal, filters.get("bureau"))
    end = as_of or local_today(policy)
    util = version_for(policy, end - dt.timedelta(days=1)).utilization
    start = min(end - dt.timedelta(days=util.idle.window_days),
                storage_months(end, util.storage_idle)[0])  # fmt: skip

    def build() -> Response:
        res = finder(store, end, policy=util, bureau_scope=principal.scope, filters=filters,
                     limit=MAX_LIMIT)  # fmt: skip
        res["items"] = res["items"][page.offset : page.offset + page.limit]
        return _candidates(res, page, fmt, lang, f"{label}-{end}")

    stamp = usage_stamp(store, start, end, disks=True)
    return conditional(request, store, principal, stamp, build)


def annual_prices(
    policy: Policy, day: dt.date
) -> tuple[str | None, Callable[[VmWindowStats], UnitPrices | None]]:
    """Yearly price per vCPU and per GB of memory of a VM's pool, as the buyer pays it,
    by the tariff version in force on ``day`` (definition: :mod:`cloudtally.core.savings`,
    shared with the alerts and gauges). The function gives None for an unpriced pool."""
    try:
        version = policy.version_at(dt.datetime(day.year, day.month, day.day, tzinfo=policy.zone))
    except LookupError:
        return None, lambda _s: None
    prices = pool_annual_prices(version)
    return version.version, lambda s: prices.get((s.provider, s.pool))


@router.get(
    "/candidates/rightsizing",
    responses=CSV_OK,
    summary="Rightsizing candidates: target size, freed vCPU/GB and money per year",
    description=(
        "VMs whose daytime-weighted CPU and memory utilization stayed under the rule "
        "(seed rule: < 20 %) over a review period (default: the last complete quarter). "
        "Target size = ceil(daytime p95 used / target utilization) — the method is stated "
        "in each candidate's `evidence.method`; nights never size a VM. `savings_year` is "
        "the freed vCPU and GB at the VM's pool price as the buyer pays it (catalog price "
        "× tender discount of the tariff version in force at the period's last day, for "
        "8760 hours, a monthly price ÷ `hours_per_month` as billing does — the same "
        "figure the alerts and gauges carry; `evidence.price_basis`); null when the pool has no "
        "price in that version. Sorted by savings, largest first."
    ),
)
def get_rightsizing(
    request: Request,
    store: StoreDep,
    principal: CurrentPrincipal,
    page: PageDep,
    policy: PolicyDep,
    quarter: Annotated[
        str | None, Query(description="review quarter, YYYY-Qn (default: the last complete)")
    ] = None,
    day_from: DayFromQ = None,
    day_to: DayToQ = None,
    bureau: BureauQ = None,
    system: SystemQ = None,
    pool: PoolQ = None,
    provider: ProviderQ = None,
    fmt: FormatQ = "json",
    langs: LangDep = NO_LANG,
) -> Response:
    lang = langs.of(fmt)
    check_bureau(principal, bureau)
    if quarter is not None and (day_from or day_to):
        raise ApiError(422, "error.quarter_or_days")
    default = parse_quarter(quarter) if quarter else review_quarter(local_today(policy))
    d0, d1 = day_range(None, day_from, day_to, default)
    filters = dict(bureau=bureau, system=system, pool=pool, provider=provider)
    return conditional(
        request, store, principal, usage_stamp(store, d0, d1),
        lambda: _rightsizing(store, principal, page, policy, d0, d1, filters, fmt, lang),
    )  # fmt: skip


def _rightsizing(
    store: Store, principal: Principal, page: Page, policy: Policy, d0: dt.date, d1: dt.date,
    filters: dict[str, str | None], fmt: str, lang: str,
) -> Response:  # fmt: skip
    last = d1 - dt.timedelta(days=1)
    version = version_for(policy, last)
    tariff, of = annual_prices(policy, last)
    unpriced: set[str] = set()

    def price(s: VmWindowStats) -> UnitPrices:
        p = of(s)
        if p is None:
            unpriced.add(s.vm_id)
            return UnitPrices(Decimal(0), Decimal(0))
        return p

    res = find_rightsizing(
        store, d0, d1, price, policy=version.utilization, calendar=version.calendar,
        bureau_scope=principal.scope, filters=filters, limit=MAX_LIMIT,
    )  # fmt: skip
    for item in res["items"]:
        ev = item["evidence"]
        if item["vm_id"] in unpriced:
            item["savings_year"] = None
            ev["unit_prices_year"] = None
            ev["price_basis"] = translate(lang)("candidate.no_price", pool=item["pool"], day=last)
        else:
            ev["price_basis"] = translate(lang)("candidate.price_basis", tariff=tariff)
    res["items"] = res["items"][page.offset : page.offset + page.limit]
    return _candidates(res, page, fmt, lang, f"rightsizing-{d0}-{d1}")
