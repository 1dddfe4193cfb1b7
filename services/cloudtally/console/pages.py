"""The console's pages. Each handler reads through the scoped read models with
``ctx.scope`` and renders one template; nothing here filters by bureau itself."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Annotated, Any

from fastapi import Form, HTTPException
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from cloudtally.analytics import series
from cloudtally.analytics.queries import (
    MAX_LIMIT,
    find_idle,
    find_rightsizing,
    find_storage_idle,
    pool_kpis,
)
from cloudtally.audit.issue import issued_statement
from cloudtally.billing import drill
from cloudtally.billing.statements import budget_status, lines, statement
from cloudtally.console import bureau_invoices, kept
from cloudtally.console.app import CtxDep, csv_download, csv_response, router
from cloudtally.console.paging import top_rows
from cloudtally.core.idle import UnitPrices, VmWindowStats, month_start
from cloudtally.core.statements import month_bounds
from cloudtally.i18n.candidates import explain as explain_candidate
from cloudtally.i18n.findings import render_row
from cloudtally.queries.inventory import count_vms, get_vm
from cloudtally.queries.search import search
from cloudtally.rounds import store as rounds

DAY = dt.timedelta(days=1)
# The console's default rightsizing window (the API's default is the last complete
# quarter): the same 14 days as the idle rule, so one look shows both on one period.
REVIEW_DAYS = 14
# Rows per candidate kind on the candidates page (a province has thousands; rendering them
# all took seconds): the heading shows the total, the CSV downloads list every one.
CANDIDATES_SHOWN = 200
# Items of a rightsizing round on one page of the round (the buyer's: thousands).
ROUND_ITEMS_SHOWN = 200
# Systems on the home page and the bills statement before "show all" (console/paging.py).
HOME_SYSTEMS, BILLS_SYSTEMS = 15, 50


def _month(text: str | None) -> dt.date | None:
    if not text:
        return None
    from cloudtally.api.period import parse_month

    return parse_month(text)


def _as_of(ctx: Any, bureau: str | None) -> dt.date:
    """'Today' for the pages: the day after the last billed day (the data's present)."""
    last = kept.last_billed_day(ctx, bureau)
    if last is None:
        from cloudtally.api.period import local_today

        return local_today(ctx.policy())
    return last + DAY


def _prices(ctx: Any, last: dt.date) -> Callable[[VmWindowStats], UnitPrices]:
    from cloudtally.api.routes.utilization import annual_prices

    _version, of = annual_prices(ctx.policy(), last)
    return lambda s: of(s) or UnitPrices(Decimal(0), Decimal(0))


def _util_policy(ctx: Any, day: dt.date) -> Any:
    from cloudtally.api.period import version_for

    return version_for(ctx.policy(), day)


@router.get("/")
def home_redirect(ctx: CtxDep) -> Response:
    return RedirectResponse("/console/home", status_code=303)


# ---------------------------------------------------------------- search


def _search(ctx: Any, q: str) -> dict[str, list[dict[str, Any]]]:
    hits = search(ctx.store, q, bureau=ctx.scope, invoices=ctx.principal.can_read_all)
    if ctx.scope is not None:  # a bureau finds the invoices with its lines, no other
        hits["invoice"] = bureau_invoices.found(ctx, q)
    return hits


@router.get("/search")
def search_page(ctx: CtxDep, q: str = "") -> HTMLResponse:
    return ctx.render("search.html", q=q, hits=_search(ctx, q))


@router.get("/search/results")
def search_results(ctx: CtxDep, q: str = "") -> HTMLResponse:
    return ctx.render("_search_results.html", q=q, hits=_search(ctx, q))


# ---------------------------------------------------------------- bureau home


def _candidates(
    ctx: Any, bureau: str | None, as_of: dt.date, limit: int = MAX_LIMIT
) -> dict[str, Any]:
    """The three candidate kinds as of ``as_of``: kept until the rollups of their windows
    (storage: the months before; rightsizing: the review days) or the policy change."""
    from cloudtally.queries import memo

    # the explanations are in the reader's language: it is part of the key
    key = ("console_candidates", bureau, ctx.scope, as_of, limit, ctx.lang, id(ctx.policy()))
    return memo.cached(ctx.store, key, _candidates_stamp(ctx, as_of),
                       lambda: _find_candidates(ctx, bureau, as_of, limit))  # fmt: skip


def _candidates_stamp(ctx: Any, as_of: dt.date) -> Any:
    """The rollups the candidates as of ``as_of`` are found from (storage: the months
    before; idle and rightsizing: their windows)."""
    from cloudtally.api.freshness import usage_stamp
    from cloudtally.core.idle import storage_months

    util = _util_policy(ctx, as_of - DAY).utilization
    start = min(as_of - dt.timedelta(days=max(REVIEW_DAYS, util.idle.window_days)),
                storage_months(as_of, util.storage_idle)[0])  # fmt: skip
    return usage_stamp(ctx.store, start, as_of, disks=True)


def _find_candidates(ctx: Any, bureau: str | None, as_of: dt.date, limit: int) -> dict[str, Any]:
    from cloudtally.api.routes.utilization import annual_prices

    version = _util_policy(ctx, as_of - DAY)
    util = version.utilization
    filters = {"bureau": bureau} if bureau and not ctx.scope else None
    idle = find_idle(ctx.store, as_of, policy=util, bureau_scope=ctx.scope, filters=filters,
                     limit=limit, prices=annual_prices(ctx.policy(), as_of - DAY)[1])  # fmt: skip
    d0 = as_of - dt.timedelta(days=REVIEW_DAYS)
    right = find_rightsizing(
        ctx.store, d0, as_of, _prices(ctx, as_of - DAY), policy=util, calendar=version.calendar,
        bureau_scope=ctx.scope, filters=filters, limit=limit,
    )  # fmt: skip
    storage = find_storage_idle(ctx.store, as_of, policy=util, bureau_scope=ctx.scope,
                                filters=filters, limit=limit)  # fmt: skip
    for found in (idle, right, storage):  # the evidence in the reader's words
        for c in found["items"]:
            c["explanation"] = explain_candidate(c, ctx.lang)
    return {"idle": idle, "rightsizing": right, "storage_idle": storage, "window_from": d0,
            "as_of": as_of}  # fmt: skip


@router.get("/home")
def home(ctx: CtxDep, bureau: str | None = None, as_of: dt.date | None = None) -> HTMLResponse:
    b = ctx.bureau_filter(bureau)
    pol = ctx.policy()
    day = as_of or _as_of(ctx, b)
    fy = pol.fiscal_year_of(day - DAY)
    stamp = (kept.billing(ctx, *pol.fiscal_year_range(fy)), kept.inventory(ctx),
             _candidates_stamp(ctx, day))  # fmt: skip
    values = kept.page(ctx, "home", (b, day), stamp, lambda: _home(ctx, b, day))
    return ctx.render("home.html", **values)


def _home(ctx: Any, b: str | None, as_of: dt.date) -> dict[str, Any]:
    pol = ctx.policy()
    m0, m1 = month_bounds(as_of - DAY)
    st = statement(ctx.store, pol, month=m0, by="system", bureau=b)
    fy = pol.fiscal_year_of(as_of - DAY)
    budgets = budget_status(ctx.store, pol, fy, bureau=b)
    budget = next((s for s in budgets if s.scope == (b or "programme")), None)
    _n, costly = drill.vm_totals(ctx.store, m0, m1, bureau=b, limit=10)
    cands = _candidates(ctx, b, as_of, limit=10)
    fleet_vms = count_vms(ctx.store, bureau=b)
    bureaus = []
    if ctx.principal.can_read_all:
        bureaus = [s.scope for s in budgets if s.scope != "programme"]
    return dict(
        bureau=b, month=m0, statement=st, budget=budget, costly=costly,
        cands=cands, fleet_vms=fleet_vms, bureaus=bureaus, fy=fy,
        systems=top_rows(st.rows, HOME_SYSTEMS, "after_cut"),
    )  # fmt: skip


# ---------------------------------------------------------------- bills


@router.get("/bills")
def bills(
    ctx: CtxDep,
    month: str | None = None,
    fy: int | None = None,
    bureau: str | None = None,
    system: str | None = None,
    vm: str | None = None,
    offset: int = 0,
    all: int = 0,
) -> HTMLResponse:
    b = ctx.bureau_filter(bureau)
    pol = ctx.policy()
    first = None
    if fy is None:
        first = _month(month) or month_bounds(_as_of(ctx, b) - DAY)[0]
        d0, d1 = month_bounds(first)
    else:
        d0, d1 = pol.fiscal_year_range(fy)
    args = (b, first, fy, system, vm, max(0, offset), bool(all))
    values = kept.page(ctx, "bills", args, kept.billing(ctx, d0, d1),
                       lambda: _bills(ctx, *args))  # fmt: skip
    return ctx.render("bills.html", **values)


def _bills(
    ctx: Any,
    b: str | None,
    first: dt.date | None,
    fy: int | None,
    system: str | None,
    vm: str | None,
    offset: int,
    all: bool,
) -> dict[str, Any]:
    from cloudtally.api.routes.billing import _line

    pol = ctx.policy()
    if first is not None:
        d0, d1 = month_bounds(first)
        st = statement(ctx.store, pol, month=first, by="system", bureau=b)
        period = {"month": f"{first:%Y-%m}"}
        issued = issued_statement(ctx.store, first, bureau=b)
    else:
        issued = None
        d0, d1 = pol.fiscal_year_range(fy)
        st = statement(ctx.store, pol, fiscal_year=fy, by="system", bureau=b)
        period = {"fiscal_year": str(fy)}
    vms_total, vms = (0, [])
    if system:
        vms_total, vms = drill.vm_totals(ctx.store, d0, d1, bureau=b, system=system, limit=200)
    detail: list[dict[str, Any]] = []
    if vm:
        detail = [_line(r, ctx.lang) for r in lines(ctx.store, d0=d0, d1=d1, bureau=b, vm_id=vm,
                                          limit=200, offset=offset)]  # fmt: skip
    query = "&".join(f"{k}={v}" for k, v in ({**period, "bureau": b or ""}).items() if v)
    return dict(
        st=st, d0=d0, d1=d1, period=period, bureau=b, system=system, vm=vm,
        vms=vms, vms_total=vms_total, detail=detail, query=query, offset=offset, issued=issued,
        systems=top_rows(st.rows, BILLS_SYSTEMS, "after_cut", show_all=all),
    )  # fmt: skip


# ---------------------------------------------------------------- utilization


def _kept_series(
    ctx: Any,
    kind: str,
    filters: dict[str, str | None],
    d0: dt.date,
    d1: dt.date,
    compute: Callable[[], list[dict[str, Any]]],
) -> list[dict[str, Any]]:
    """A chart's series, kept until the rollups of its days change (queries/memo.py): a
    system's month of hourly rows was read again on every request."""
    from cloudtally.api.freshness import usage_stamp
    from cloudtally.queries import memo

    key = ("console_series", kind, ctx.scope, tuple(sorted(filters.items())), d0, d1)
    return memo.cached(ctx.store, key, usage_stamp(ctx.store, d0, d1), compute)


@router.get("/utilization")
def utilization_page(
    ctx: CtxDep,
    vm: str | None = None,
    system: str | None = None,
    bureau: str | None = None,
    week: dt.date | None = None,
    month: str | None = None,
) -> HTMLResponse:
    b = ctx.bureau_filter(bureau)
    pol = ctx.policy()
    as_of = _as_of(ctx, b)
    filters: dict[str, str | None] = {"vm_id": vm or None, "system": system or None}
    if b and not ctx.scope:
        filters["bureau"] = b
    w0 = week or (as_of - dt.timedelta(days=7))
    zone = pol.zone
    h0 = int(dt.datetime(w0.year, w0.month, w0.day, tzinfo=zone).timestamp())

    def week() -> list[dict[str, Any]]:
        return series.hourly(ctx.store, h0, h0 + 7 * 86400, bureau_scope=ctx.scope,
                             filters=filters)  # fmt: skip

    hours = _kept_series(ctx, "hourly", filters, w0, w0 + 7 * DAY, week)
    days = [w0 + dt.timedelta(days=i) for i in range(7)]
    cells = []
    for h in hours:
        local = dt.datetime.fromtimestamp(h["hour"], zone)
        y = (local.date() - w0).days
        if 0 <= y < 7:
            cells.append([local.hour, y, h["cpu"], h["mem"], h["business"] > 0])
    first = _month(month) or month_bounds(as_of - DAY)[0]
    m0, m1 = month_bounds(first)
    daily = _kept_series(ctx, "daily", filters, m0, m1,
                         lambda: series.daily(ctx.store, m0, m1, bureau_scope=ctx.scope,
                                              filters=filters))  # fmt: skip
    vm_row = None
    if vm:
        vm_row = kept.page(ctx, "vm", (vm,), kept.inventory(ctx),
                           lambda: get_vm(ctx.store, vm, bureau=ctx.scope))  # fmt: skip
    chart = {
        "days": [d.isoformat() for d in days],
        "cells": cells,
        "daily": daily,
    }
    return ctx.render(
        "utilization.html", vm=vm, system=system, bureau=b, week=w0, month=m0,
        chart=json.dumps(chart), has_hours=bool(cells), has_days=bool(daily), vm_row=vm_row,
    )  # fmt: skip


# ---------------------------------------------------------------- candidates


@router.get("/candidates")
def candidates_page(
    ctx: CtxDep, bureau: str | None = None, as_of: dt.date | None = None
) -> HTMLResponse:
    b = ctx.bureau_filter(bureau)
    day = as_of or _as_of(ctx, b)
    # The first CANDIDATES_SHOWN of each kind; the count says how many, the CSV has them all.
    # Kept rendered (the reader's language and role are in the key): 600 rows as dicts made
    # every request allocate enough to run the collector's full pass over all kept figures
    # (~120-300 ms at 15,000 VMs); one kept string costs neither.
    cands = kept.page(ctx, "candidates", (b, day), _candidates_stamp(ctx, day),
                      lambda: _candidate_tables(ctx, b, day))  # fmt: skip
    return ctx.render("candidates.html", cands=cands, bureau=b)


def _candidate_tables(ctx: Any, b: str | None, day: dt.date) -> dict[str, Any]:
    found = _find_candidates(ctx, b, day, CANDIDATES_SHOWN)
    return {"window_from": found["window_from"], "as_of": found["as_of"],
            "tables": ctx.fragment("_candidate_tables.html", cands=found)}  # fmt: skip


# ---------------------------------------------------------------- rounds


@router.get("/rounds")
def rounds_page(ctx: CtxDep) -> HTMLResponse:
    listed = _rounds(ctx)
    as_of = _as_of(ctx, ctx.scope)
    start = as_of - dt.timedelta(days=REVIEW_DAYS)
    return ctx.render("rounds.html", rounds=listed, default_from=start, default_to=as_of)


@router.post("/rounds")
def open_round(
    ctx: CtxDep,
    review_from: Annotated[dt.date, Form()],
    review_to: Annotated[dt.date, Form()],
    quarter: Annotated[str, Form()] = "",
) -> Response:
    ctx.need_admin()
    if review_to <= review_from:
        raise HTTPException(422, "review_to must be after review_from")
    round_id = rounds.open_round(
        ctx.store, ctx.policy(), ctx.principal, review_from, review_to,
        quarter=quarter or f"{review_from.year}-Q{(review_from.month - 1) // 3 + 1}",
        prices=_prices(ctx, review_to - DAY),
    )  # fmt: skip
    return Response(status_code=204, headers={"HX-Redirect": f"/console/rounds/{round_id}"})


def _rounds(ctx: Any) -> list[dict[str, Any]]:
    return kept.page(ctx, "rounds", (), kept.table(ctx, "rightsizing_rounds"),
                     lambda: rounds.list_rounds(ctx.store))  # fmt: skip


def _round_items(ctx: Any, round_id: str) -> list[dict[str, Any]]:
    """The round's items under the reader's scope, with the decisions in force: kept until
    an item or a decision of the round is written (a decision is written through this
    process's store, so the next read sees it at once)."""
    one = {"r": round_id}
    # items have no version (a snapshot written once at the opening): their hash instead
    items = "cityHash64(kind, vm_id, evidence)"
    stamp = (kept.table(ctx, "rightsizing_round_items", "round_id = %(r)s", one, items),
             kept.table(ctx, "rightsizing_decisions", "round_id = %(r)s", one, "seq"))  # fmt: skip
    return kept.page(ctx, "round_items", (round_id,), stamp,
                     lambda: rounds.items(ctx.store, round_id, bureau=ctx.scope))  # fmt: skip


def _round_or_404(ctx: Any, round_id: str) -> dict[str, Any]:
    rnd = next((r for r in _rounds(ctx) if r["round_id"] == round_id), None)
    if rnd is None:
        raise HTTPException(404, f"no round {round_id}")
    return rnd


@router.get("/rounds/{round_id}")
def round_page(ctx: CtxDep, round_id: str, offset: int = 0) -> HTMLResponse:
    rnd = _round_or_404(ctx, round_id)
    its = _round_items(ctx, round_id)
    check = None
    if rnd["previous_round"]:
        check = rounds.verify(ctx.store, rnd["previous_round"], _as_of(ctx, ctx.scope),
                              bureau=ctx.scope)  # fmt: skip
    counts = {k: sum(1 for i in its if i["decision"] == k) for k in ("accepted", "declined")}
    # A province's round has thousands of items: a page of them, biggest saving first (the
    # work order CSV has every accepted one); a bureau's own items fit on one page.
    start = max(0, min(offset, len(its)))
    shown = its[start : start + ROUND_ITEMS_SHOWN]
    return ctx.render("round.html", rnd=rnd, items=shown, items_total=len(its), offset=start,
                      page_size=ROUND_ITEMS_SHOWN, check=check, counts=counts)  # fmt: skip


@router.post("/rounds/{round_id}/decide")
def decide(
    ctx: CtxDep,
    round_id: str,
    kind: Annotated[str, Form()],
    vm_id: Annotated[str, Form()],
    decision: Annotated[str, Form()],
    reason: Annotated[str, Form()] = "",
) -> HTMLResponse:
    try:
        item = rounds.decide(ctx.store, round_id, kind, vm_id, decision, reason, ctx.principal)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    item["decided_at"] = dt.datetime.now(dt.UTC).replace(microsecond=0)
    rnd = _round_or_404(ctx, round_id)
    return ctx.render("_round_item.html", i=item, rnd=rnd)


@router.get("/rounds/{round_id}/work-order.csv")
def work_order(ctx: CtxDep, round_id: str) -> Response:
    ctx.need_read_all()
    _round_or_404(ctx, round_id)
    return csv_download(rounds.WORK_ORDER_KEYS, rounds.work_order(ctx.store, round_id),
                        f"work-order-{round_id}")  # fmt: skip


# ---------------------------------------------------------------- invoices


@router.get("/invoices")
def invoices_page(ctx: CtxDep) -> HTMLResponse:
    from cloudtally.invoices import store as inv

    if ctx.scope is not None:  # a bureau: the invoices with its lines (console/bureau_invoices)
        return bureau_invoices.listing(ctx)
    ctx.need_read_all()

    def compute() -> list[dict[str, Any]]:
        return [{**i, "run": inv.latest_run(ctx.store, i["invoice_id"])}
                for i in reversed(inv.list_invoices(ctx.store))]  # fmt: skip

    stamp = (kept.table(ctx, "invoices"), kept.table(ctx, "verification_runs"),
             kept.table(ctx, "audit_ledger", column="seq"))  # fmt: skip
    listed = kept.page(ctx, "invoices", (), stamp, compute)
    providers = sorted({i["provider"] for i in listed})
    return ctx.render("invoices.html", invoices=listed, providers=providers)


@router.get("/invoices/{invoice_id}")
def invoice_page(
    ctx: CtxDep,
    invoice_id: str,
    rule: str | None = None,
    pool: str | None = None,
    bureau: str | None = None,
    min_amount: str | None = None,
) -> HTMLResponse:
    from cloudtally.api.freshness import invoice_stamp
    from cloudtally.invoices import store as inv

    bureau = bureau_invoices.readable(ctx, bureau)  # a bureau: its own lines
    try:
        minimum = Decimal(min_amount) if min_amount else None
    except ArithmeticError:
        raise HTTPException(422, f"min_amount: not a number: {min_amount!r}") from None
    if minimum is not None and not minimum.is_finite():
        raise HTTPException(422, f"min_amount: not a number: {min_amount!r}")

    def compute() -> tuple[dict[str, Any], list[dict[str, Any]]] | str | None:
        if inv.get_invoice(ctx.store, invoice_id) is None:
            return None
        summary = inv.summary(ctx.store, invoice_id, bureau=ctx.scope)
        if ctx.scope is not None and not bureau_invoices.has_lines(summary):
            return "not_mine"
        found = inv.findings(
            ctx.store, invoice_id, rule_id=rule or None, pool=pool or None,
            bureau=bureau or None, min_abs_amount=minimum, limit=500,
        )  # fmt: skip
        for f in found:  # the finding's sentence in the reader's language
            f["message"] = render_row(f, ctx.lang)
        return summary, found

    args = (invoice_id, rule, pool, bureau, minimum)
    got = kept.page(ctx, "invoice", args, invoice_stamp(ctx.store, invoice_id), compute)
    if got is None:
        raise HTTPException(404, f"no invoice {invoice_id}")
    if isinstance(got, str):  # a bureau with no lines in it
        raise HTTPException(404, f"no lines of {ctx.scope} in invoice {invoice_id}")
    summary, found = got
    groups = summary.get("by_group") or []
    return ctx.render(
        "invoice.html", inv=summary, findings=found, rule=rule or "", pool=pool or "",
        bureau=bureau or "", min_amount=min_amount or "",
        pools=sorted({g["pool"] for g in groups}), bureaus=sorted({g["bureau"] for g in groups}),
    )  # fmt: skip


@router.get("/invoices/dispute/{provider}.csv")
def dispute(ctx: CtxDep, provider: str) -> Response:
    """Over-billing findings of the provider's invoices (latest runs), to send back.

    Only money the verification counts as over-billed: charges cloudtally cannot verify
    (V1/V2) and a wrong bureau (O1) are shown on the invoice page, not disputed here.
    """
    from cloudtally.invoices.report import dispute_csv, dispute_rows

    ctx.need_read_all()
    # in the reader's language: headers, rule names, sentences, Beijing times
    return csv_response(dispute_csv(dispute_rows(ctx.store, provider), ctx.lang),
                        f"dispute-{provider}")  # fmt: skip


# ---------------------------------------------------------------- pools


@router.get("/pools")
def pools_page(ctx: CtxDep, month: str | None = None, months: int = 6) -> HTMLResponse:
    ctx.need_read_all()
    last = _month(month) or month_start(_as_of(ctx, None) - DAY)
    history = []
    for k in range(max(1, min(months, 24)) - 1, -1, -1):
        first = month_start(last, k)
        res = pool_kpis(ctx.store, first, policy=_util_policy(ctx, first).utilization)
        history.append({"month": f"{first:%Y-%m}", "items": res["items"]})
    current = history[-1]["items"] if history else []
    chart = {
        "months": [h["month"] for h in history],
        "pools": sorted({f"{i['provider']}/{i['pool']}" for h in history for i in h["items"]}),
        "values": {
            f"{i['provider']}/{i['pool']}|{h['month']}": i.get("utilization_pct")
            for h in history
            for i in h["items"]
        },
    }
    return ctx.render("pools.html", month=last, current=current, history=history,
                      chart=json.dumps(chart, default=str))  # fmt: skip


# ---------------------------------------------------------------- pipeline


@router.get("/pipeline")
def pipeline_page(ctx: CtxDep) -> HTMLResponse:
    from cloudtally.queries.ingest import consumer_progress, dead_letters

    ctx.need_admin()
    progress = consumer_progress(ctx.store)
    dl_total, dl = dead_letters(ctx.store, limit=50)
    reasons: dict[str, int] = {}
    for d in dl:
        reasons[d["reason"]] = reasons.get(d["reason"], 0) + 1
    state = ctx.store.dicts(
        "SELECT name, max(value) AS value, max(updated_at) AS updated_at FROM worker_state "
        "GROUP BY name ORDER BY name"
    )
    runs = ctx.store.dicts(
        "SELECT run_id, kind, period_from, period_to, actor, started_at, line_count, total "
        "FROM rating_runs ORDER BY started_at DESC LIMIT 10"
    )
    grafana = ctx.settings.grafana_url
    return ctx.render(
        "pipeline.html", progress=progress, dead=dl, dead_total=dl_total, reasons=reasons,
        state=state, runs=runs, grafana=grafana.rstrip("/") if grafana else None,
    )  # fmt: skip
