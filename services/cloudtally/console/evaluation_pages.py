"""The console's evaluation pages: availability against the SLA target, SLA credits,
providers' fault reports, and the annual scorecard.

Every figure comes from the same read models as the API (``evaluation.availability``,
``evaluation.credits``, ``evaluation.faults``, ``scorecard.gather``); the bureau scope is
the principal's, passed as :class:`Scope` ``bureau`` (the VMs it owned, for the time it
owned them). Credits, faults and scorecards are the buyer's and auditors' (403 to others).
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from fastapi import HTTPException
from fastapi.responses import HTMLResponse

from cloudtally.console.app import CtxDep, router
from cloudtally.console.pages import DAY, _as_of, _month
from cloudtally.core.idle import month_start

GROUPS = ("pool", "system", "provider", "bureau")
INCIDENTS_SHOWN = 200
MAX_MONTHS = 12
HISTORY_YEARS = 3


def _span(ctx: Any, month: str | None, months: int, bureau: str | None) -> tuple[Any, ...]:
    """The last ``months`` local months up to ``month`` (default: the data's month), as
    epoch seconds [t0, t1); an unfinished month ends now (the future is not a gap)."""
    from cloudtally.evaluation.availability import month_span

    pol = ctx.policy()
    last = _month(month) or month_start(_as_of(ctx, bureau) - DAY)
    n = max(1, min(months, MAX_MONTHS))
    first = month_start(last, n - 1)
    t0 = month_span(pol, first)[0]
    t1 = min(month_span(pol, last)[1], int(time.time()) // 60 * 60)
    firsts = [month_start(last, k) for k in range(n - 1, -1, -1)]
    return last, firsts, t0, max(t0 + 60, t1)


# ---------------------------------------------------------------- kept reads


def _local_days(ctx: Any, t0: int, t1: int) -> tuple[dt.date, dt.date]:
    z = ctx.policy().zone
    return (dt.datetime.fromtimestamp(t0, z).date(),
            dt.datetime.fromtimestamp(t1 - 1, z).date() + DAY)  # fmt: skip


def evaluation_stamp(ctx: Any, t0: int, t1: int, *tables: str) -> Any:
    """What an availability figure over [t0, t1) reads, as cheap stamps: the rollups of its
    days (recomputed whenever samples arrive: raw samples are too many to stamp), the
    collectors' heartbeats, the inventory (ownership), and ``tables`` whole."""
    from cloudtally.api.freshness import usage_stamp
    from cloudtally.queries import memo

    d0, d1 = _local_days(ctx, t0, t1)
    whole = {"collector_heartbeats", "vm_inventory", *tables}
    return (usage_stamp(ctx.store, d0, d1),
            *(memo.stamp(ctx.store, name, "1", {}) for name in sorted(whole)))  # fmt: skip


def _kept(ctx: Any, key: tuple[Any, ...], stamp: Any, compute: Any) -> Any:
    """A page's evaluation figures, kept until their stamp moves (queries/memo.py): an
    availability assessment of a province's VMs took seconds per request."""
    from cloudtally.queries import memo

    return memo.cached(ctx.store, (*key, ctx.scope, id(ctx.policy())), stamp, compute)


# ---------------------------------------------------------------- availability


@router.get("/availability")
def availability_page(
    ctx: CtxDep,
    month: str | None = None,
    months: int = 3,
    by: str = "pool",
    bureau: str | None = None,
) -> HTMLResponse:
    from cloudtally.evaluation.availability import Scope, report
    from cloudtally.evaluation.credits import month_credits

    b = ctx.bureau_filter(bureau)
    # Every part of a VM's time is labelled with its place then (core.placement), so a
    # bureau grouping by bureau sees only itself, over exactly the time it owned each VM.
    groups = GROUPS
    if by not in groups:
        raise HTTPException(422, f"by: one of {', '.join(groups)}")
    last, firsts, t0, t1 = _span(ctx, month, months, b)
    pol = ctx.policy()
    read_all = ctx.principal.can_read_all

    def compute() -> tuple[dict[str, Any], list[dict[str, Any]]]:
        doc = report(ctx.store, pol, Scope(t0, t1, bureau=b), by=by, incidents=True)
        credits = []
        if read_all:  # money of the contract: the buyer's and auditors'
            for first in firsts:
                credits += [c.as_row() for c in month_credits(ctx.store, pol, first)]
        return doc, credits

    stamp = evaluation_stamp(ctx, t0, t1, "bill_totals")  # credits: the pools' month fees
    doc, credits = _kept(ctx, ("availability", b, by, t0, t1, read_all), stamp, compute)
    incidents = sorted(doc.get("incidents", []), key=lambda i: -i["duration_s"])
    return ctx.render(
        "availability.html", month=last, months=len(firsts), by=by, bureau=b, doc=doc,
        incidents=incidents[:INCIDENTS_SHOWN], incidents_total=len(incidents), credits=credits,
        groups=groups, zone=pol.zone,
    )  # fmt: skip


# ---------------------------------------------------------------- fault reports


def fault_rejections(store: Any, limit: int = 200) -> list[dict[str, Any]]:
    """The rejected rows of the latest fault-report imports, newest first, with reasons."""
    return list(
        store.dicts(
            "SELECT import_id, provider, file_name, row, column, value, reason, imported_at "
            "FROM fault_rejections ORDER BY imported_at DESC, import_id, row LIMIT %(n)s",
            {"n": limit},
        )
    )


@router.get("/faults")
def faults_page(
    ctx: CtxDep, month: str | None = None, months: int = 3, provider: str | None = None
) -> HTMLResponse:
    from cloudtally.evaluation.faults import fault_report

    ctx.need_read_all()
    last, firsts, t0, t1 = _span(ctx, month, months, None)
    who = provider or None
    # an open fault's deadline passes with the clock: kept for five minutes at most
    key = ("faults", who, t0, t1, int(time.time()) // 300)
    doc = _kept(ctx, key, evaluation_stamp(ctx, t0, t1, "fault_reports"),
                lambda: fault_report(ctx.store, ctx.policy(), t0, t1, provider=who))  # fmt: skip
    return ctx.render(
        "faults.html", month=last, months=len(firsts), provider=provider or "", doc=doc,
        rejections=fault_rejections(ctx.store), zone=ctx.policy().zone,
    )  # fmt: skip


# ---------------------------------------------------------------- scorecards


def _pools(policy: Any) -> list[tuple[str, str]]:
    return sorted({(p.id, q.id) for v in policy.versions for p in v.providers for q in p.pools})


CARD_TABLES = ("bill_totals", "fault_reports", "rightsizing_rounds")  # items: with their round


def _scheme(ctx: Any) -> tuple[Any, dict[int, str]]:
    """The evaluation scheme (read and validated anew on each call: once per request) and
    a cache of its versions' rules as text, the kept cards' key."""
    from cloudtally.api.routes.scorecards import _scheme as read

    return read(ctx.request), {}


def _card(ctx: Any, fy: int, provider: str, pool: str, read: tuple[Any, dict[int, str]]) -> Any:
    """One pool's card, kept until what it reads moves: usage, availability, faults,
    rounds, bills and the buyer's entries of the year (a province's card took seconds)."""
    from cloudtally.evaluation.availability import fiscal_year_span
    from cloudtally.queries import memo
    from cloudtally.scorecard.gather import build

    scheme, rules_of = read
    t0, t1 = fiscal_year_span(ctx.policy(), fy)
    entries = memo.stamp(ctx.store, "scorecard_entries", "fiscal_year = %(fy)s", {"fy": fy},
                         column="seq")  # fmt: skip
    decisions = memo.stamp(ctx.store, "rightsizing_decisions", "1", {}, column="seq")
    stamp = (evaluation_stamp(ctx, t0, min(t1, int(time.time())), *CARD_TABLES), entries,
             decisions)  # fmt: skip
    if fy not in rules_of:
        rules_of[fy] = scheme.version_for(fy).model_dump_json()
    rules = rules_of[fy]
    return _kept(ctx, ("scorecard", fy, provider, pool, rules), stamp,
                 lambda: build(ctx.store, ctx.policy(), scheme, fy, provider, pool))  # fmt: skip


def _fiscal_year(ctx: Any, fy: int | None) -> int:
    if fy is None:
        return int(ctx.policy().fiscal_year_of(_as_of(ctx, None) - DAY))
    if not 2000 <= fy <= 2100:
        raise HTTPException(422, f"fy: 2000-2100, got {fy}")
    return fy


@router.get("/scorecards")
def scorecards_page(ctx: CtxDep, fy: int | None = None) -> HTMLResponse:
    from cloudtally.scorecard.report import plain, shown

    ctx.need_read_all()
    year = _fiscal_year(ctx, fy)
    cards, scheme = [], _scheme(ctx)
    for provider, pool in _pools(ctx.policy()):
        card = _card(ctx, year, provider, pool, scheme)
        cards.append({"provider": provider, "pool": pool, "total": plain(card.total),
                      "total_shown": shown(card.total), "grade": card.grade.grade,
                      "grade_en": card.grade.grade_en, "complete": card.complete,
                      "missing": len(card.missing)})  # fmt: skip
    return ctx.render("scorecards.html", fy=year, cards=cards)


@router.get("/scorecards/{fy}/{provider}/{pool}")
def scorecard_page(ctx: CtxDep, fy: int, provider: str, pool: str) -> HTMLResponse:
    from cloudtally.api.routes.scorecards import _pool_exists
    from cloudtally.audit import ledger
    from cloudtally.scorecard import entries
    from cloudtally.scorecard.report import card_json

    ctx.need_read_all()
    year = _fiscal_year(ctx, fy)
    _pool_exists(ctx.policy(), provider, pool)
    scheme = _scheme(ctx)
    doc = card_json(_card(ctx, year, provider, pool, scheme),
                    ledger_head=ledger.head_hash(ctx.store))  # fmt: skip
    history = []
    for y in range(year - HISTORY_YEARS + 1, year + 1):  # the pool's years, oldest first
        c = doc if y == year else card_json(_card(ctx, y, provider, pool, scheme))
        history.append({"fy": y, "total_shown": c["total_shown"], "grade": c["grade"],
                        "grade_en": c["grade_en"], "complete": c["complete"]})  # fmt: skip
    mine = [e for e in entries.history(ctx.store, year)
            if e["provider"] in ("", provider) and e["pool"] in ("", pool)]  # fmt: skip
    return ctx.render("scorecard.html", fy=year, provider=provider, pool=pool, doc=doc,
                      history=history, entries=mine)  # fmt: skip


def local_time(value: Any, zone: Any = None) -> str:
    """Epoch seconds (or an ISO text) as the buyers' local time to the minute."""
    if value is None or value == "":
        return "—"
    if isinstance(value, int | float):
        z = zone or dt.timezone(dt.timedelta(hours=8))
        return dt.datetime.fromtimestamp(int(value), z).strftime("%Y-%m-%d %H:%M")
    return str(value).replace("T", " ")[:16]


def minutes(seconds: Any) -> str:
    return "—" if seconds is None else f"{int(seconds) / 60:,.0f}"


def _register() -> None:
    from cloudtally.console.app import templates

    templates.env.filters["local_time"] = local_time
    templates.env.filters["minutes"] = minutes


_register()
