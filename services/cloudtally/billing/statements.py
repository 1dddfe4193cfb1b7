"""Statement queries: monthly / fiscal-year statements, budgets, run comparison, what-if.

Every query takes an optional ``bureau`` scope that is applied inside the SQL
(access scoping lives in the queries, not only in the routes). A bureau-scoped
statement never shows provider-level lines (volume tiers), which belong to no
bureau. Statement totals are sums of the rounded lines, summed exactly in
ClickHouse Decimal; statements and budgets read them from the per-VM month
totals the rating step keeps (:mod:`cloudtally.billing.totals`).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from cloudtally.billing import totals
from cloudtally.billing.rate import (
    RunSummary,
    current_filter,
    fetch_usage,
    local_days,
    new_run,
    record_run,
)
from cloudtally.core.cells import neutralise
from cloudtally.core.policy import Policy
from cloudtally.core.rating import rate
from cloudtally.core.statements import Forecast, linear_forecast, month_bounds
from cloudtally.core.tariff import TariffTable
from cloudtally.i18n import term, translate
from cloudtally.i18n.headers import column_headers
from cloudtally.store.base import Store

Dimension = Literal["provider", "pool", "bureau", "system"]
DIMENSIONS: tuple[str, ...] = ("provider", "pool", "bureau", "system")
ZERO = Decimal("0.00")

# Column headers: the catalogue's ``col.<key>`` (English: the JSON field name itself, so a
# CSV column means exactly what the field means; Chinese: 使用单位, 金额 …), cloudtally.i18n.
HEADERS_ZH: dict[str, str] = {}  # keys not yet in the catalogue (folded in at merge)


def _dim(by: str) -> str:
    if by not in DIMENSIONS:
        raise ValueError(f"by must be one of {DIMENSIONS}")
    return by


@dataclass
class Statement:
    title: str
    by: str
    d0: dt.date
    d1: dt.date
    bureau: str | None
    rows: list[dict[str, Any]]
    adjustments: list[dict[str, Any]] = field(default_factory=list)

    @property
    def lines_total(self) -> Decimal:
        return sum((r["after_cut"] for r in self.rows), ZERO)

    @property
    def total(self) -> Decimal:
        return (self.lines_total + sum((a["amount"] for a in self.adjustments), ZERO)).quantize(
            ZERO
        )


def period_of(
    policy: Policy, month: dt.date | None = None, fiscal_year: int | None = None
) -> tuple[dt.date, dt.date, str]:
    if (month is None) == (fiscal_year is None):
        raise ValueError("give exactly one of month or fiscal_year")
    if month is not None:
        d0, d1 = month_bounds(month)
        return d0, d1, f"{d0:%Y-%m}"
    assert fiscal_year is not None
    d0, d1 = policy.fiscal_year_range(fiscal_year)
    return d0, d1, f"FY{fiscal_year}"


def _scope(bureau: str | None, params: dict[str, Any]) -> str:
    if bureau is None:
        return ""
    params["bureau"] = bureau
    return "AND bureau = %(bureau)s"


def statement(
    store: Store,
    policy: Policy,
    *,
    month: dt.date | None = None,
    fiscal_year: int | None = None,
    by: str = "provider",
    bureau: str | None = None,
) -> Statement:
    """Monthly or fiscal-year statement grouped by provider, pool, bureau or system."""
    d0, d1, title = period_of(policy, month, fiscal_year)
    col = _dim(by)
    params: dict[str, Any] = {"d0": d0, "d1": d1}
    rows = store.dicts(
        f"""SELECT {col}, sum(lines) AS lines, sum(list_amount) AS list_amount,
            sum(after_discount) AS after_discount, sum(after_cut) AS after_cut,
            toUInt32(sum(provisional_lines)) AS provisional_lines
        {totals.where(params, d0, d1, bureau=bureau)}
        GROUP BY {col} ORDER BY {col}""",
        params,
    )
    for r in rows:
        for k in ("list_amount", "after_discount", "after_cut"):
            r[k] = Decimal(r[k]).quantize(ZERO)
    adjustments: list[dict[str, Any]] = []
    if bureau is None:
        adjustments = store.dicts(
            """SELECT month, provider, kind, status, tariff_version, basis, mode, basis_value,
                fee, amount, details
            FROM statement_lines FINAL
            WHERE month >= %(d0)s AND month < %(d1)s AND amount != 0
            ORDER BY month, provider, kind""",
            params,
        )
        for a in adjustments:  # the driver gives Decimal('-0.9'): money keeps two places
            a["amount"] = Decimal(a["amount"]).quantize(ZERO)
            a["fee"] = Decimal(a["fee"]).quantize(ZERO)
    return Statement(title, col, d0, d1, bureau, rows, adjustments)


def lines(
    store: Store,
    *,
    d0: dt.date,
    d1: dt.date,
    bureau: str | None = None,
    vm_id: str | None = None,
    provider: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Current bill lines with their derivation, paginated (ordered by day, vm, resource)."""
    params: dict[str, Any] = {"d0": d0, "d1": d1, "limit": int(limit), "offset": int(offset)}
    where, vms = _line_filters(params, bureau, vm_id, provider)
    return store.dicts(
        f"""SELECT vm_id, day, bureau, system, pool, provider, resource, tariff_version,
            quantity, unit, unit_price, price_divisor, list_amount, after_discount, after_cut,
            adjustments, utilization_basis, hours, unmetered_hours, run_id, month_provisional,
            calendar_provisional
        FROM bill_lines
        WHERE day >= %(d0)s AND day < %(d1)s {where} AND {current_filter(extra=vms)}
        ORDER BY day, vm_id, resource, tariff_version
        LIMIT %(limit)s OFFSET %(offset)s""",
        params,
    )


def _line_filters(
    params: dict[str, Any], bureau: str | None, vm_id: str | None, provider: str | None
) -> tuple[str, str]:
    """(WHERE fragment on bill_lines, VM fragment for the current-run pointers).

    The pointers are looked up only for the VMs that can match: one VM, or the bureau's
    VMs of those months (from the totals), not the whole fleet's."""
    where = _scope(bureau, params)
    vms = ""
    if vm_id is not None:
        params["vm"] = vm_id
        vms = "AND vm_id = %(vm)s"
        keys = "vm_id = %(vm)s"
    elif bureau is not None:
        vms = """AND vm_id IN (SELECT vm_id FROM bill_totals WHERE bureau = %(bureau)s
            AND month >= toStartOfMonth(%(d0)s) AND month < %(d1)s)"""
        keys = "bureau = %(bureau)s"
    if vms:  # (provider, pool, vm_id) leads bill_lines' sort key: the index finds them
        where += f""" {vms} AND (provider, pool, vm_id) IN (
            SELECT provider, pool, vm_id FROM bill_totals WHERE {keys}
            AND month >= toStartOfMonth(%(d0)s) AND month < %(d1)s)"""
    if provider is not None:
        params["provider"] = provider
        where += " AND provider = %(provider)s"
    return where, vms


def line_totals(
    store: Store,
    d0: dt.date,
    d1: dt.date,
    *,
    bureau: str | None = None,
    vm_id: str | None = None,
    provider: str | None = None,
) -> dict[str, Any]:
    """Count and sums of the current lines the filters select (whole months: the totals)."""
    params: dict[str, Any] = {"d0": d0, "d1": d1}
    if totals.covers(d0, d1):
        source = totals.where(params, d0, d1, bureau=bureau, vm_ids=None if vm_id is None
                              else [vm_id], provider=provider)  # fmt: skip
        counted = "sum(lines)"
    else:
        where, vms = _line_filters(params, bureau, vm_id, provider)
        source = (f"FROM bill_lines WHERE day >= %(d0)s AND day < %(d1)s {where} "
                  f"AND {current_filter(extra=vms)}")  # fmt: skip
        counted = "count()"
    n, lst, disc, cut = store.rows(
        f"SELECT {counted}, sum(list_amount), sum(after_discount), sum(after_cut) {source}",
        params,
    )[0]
    return {
        "lines": int(n or 0),
        "list_amount": Decimal(lst or 0).quantize(ZERO),
        "after_discount": Decimal(disc or 0).quantize(ZERO),
        "after_cut": Decimal(cut or 0).quantize(ZERO),
    }


@dataclass(frozen=True)
class BudgetStatus:
    scope: str  # "programme" or a bureau
    forecast: Forecast


def budget_status(
    store: Store, policy: Policy, fiscal_year: int, bureau: str | None = None
) -> list[BudgetStatus]:
    """Budget vs accrued with a linear run-rate year-end forecast.

    Programme accrued = current lines + provider-level statement lines of the
    year; a bureau's accrued = its lines only (volume tiers are not allocated
    to bureaus). Days elapsed run to the last day with rated lines.
    """
    d0, d1 = policy.fiscal_year_range(fiscal_year)
    budget = policy.budget(fiscal_year)
    params: dict[str, Any] = {"d0": d0, "d1": d1}
    rows = store.rows(
        f"""SELECT bureau, sum(after_cut), max(last_day)
        {totals.where(params, d0, d1, bureau=bureau)} GROUP BY bureau""",
        params,
    )
    through = max((r[2] for r in rows), default=d0 - dt.timedelta(days=1))
    out: list[BudgetStatus] = []
    if bureau is None:
        adj = store.scalar(
            "SELECT sum(amount) FROM statement_lines FINAL"
            " WHERE month >= %(d0)s AND month < %(d1)s",
            params,
        )
        accrued = sum((Decimal(r[1]) for r in rows), ZERO) + Decimal(adj or 0)
        out.append(
            BudgetStatus(
                "programme",
                linear_forecast(
                    fiscal_year,
                    budget.programme if budget else None,
                    accrued.quantize(ZERO),
                    d0,
                    d1,
                    through,
                ),
            )
        )
    bureau_budgets = budget.bureaus if budget else {}
    names = sorted({r[0] for r in rows} | ({bureau} if bureau else set(bureau_budgets)))
    by_bureau = {r[0]: Decimal(r[1]).quantize(ZERO) for r in rows}
    for b in names:
        out.append(
            BudgetStatus(
                b,
                linear_forecast(
                    fiscal_year, bureau_budgets.get(b), by_bureau.get(b, ZERO), d0, d1, through
                ),
            )
        )
    return out


def run_diff(
    store: Store, run_id: str, by: str = "bureau", bureau: str | None = None
) -> list[dict[str, Any]]:
    """A run's lines against the lines that were current for the same (vm, day) before it."""
    col = _dim(by)
    params: dict[str, Any] = {"run": run_id}
    scope = _scope(bureau, params)
    # count() first: max() over no rows is 0 on ClickHouse, not NULL.
    found, version = store.rows(
        "SELECT count(), max(version) FROM bill_current WHERE run_id = %(run)s", params
    )[0]
    if not found:
        raise LookupError(f"run {run_id!r} has no lines")
    params["v"] = int(version)
    rows = store.rows(
        f"""SELECT {col}, sumIf(after_cut, run_id = %(run)s) AS current,
            sumIf(after_cut, run_id != %(run)s) AS previous
        FROM bill_lines
        WHERE (vm_id, day, run_id) IN (
            SELECT vm_id, day, %(run)s FROM bill_current WHERE run_id = %(run)s
            UNION ALL
            SELECT vm_id, day, argMax(run_id, version) FROM bill_current
            WHERE version < %(v)s AND (vm_id, day) IN (
                SELECT vm_id, day FROM bill_current WHERE run_id = %(run)s)
            GROUP BY vm_id, day) {scope}
        GROUP BY {col} ORDER BY {col}""",
        params,
    )
    return [
        {
            col: r[0],
            "previous": Decimal(r[2]).quantize(ZERO),
            "current": Decimal(r[1]).quantize(ZERO),
            "difference": (Decimal(r[1]) - Decimal(r[2])).quantize(ZERO),
        }
        for r in rows
    ]


def what_if(
    store: Store,
    policy: Policy,
    t0: dt.datetime,
    t1: dt.datetime,
    *,
    by: str = "bureau",
    bureau: str | None = None,
    vm_ids: Sequence[str] | None = None,
    reason: str = "",
    actor: str = "",
    record: bool = True,
) -> list[dict[str, Any]]:
    """Rate [t0, t1) under ``policy`` in memory and compare with the live lines, per key.

    Never writes bill lines; the what-if is recorded in rating_runs (kind
    'whatif') when ``record`` is set.
    """
    col = _dim(by)
    d0, d1 = local_days(policy, t0, t1)
    started = dt.datetime.now(dt.UTC)
    usage, util, vm_hours = fetch_usage(store, policy, d0, d1, vm_ids)
    rated = rate(TariffTable(policy), usage, util)
    alt: dict[str, int] = {}
    keys = getattr(rated, col)
    for k, fen, b in zip(keys.tolist(), rated.cut_fen.tolist(), rated.bureau.tolist(), strict=True):
        if bureau is not None and b != bureau:
            continue
        alt[k] = alt.get(k, 0) + int(fen)
    params: dict[str, Any] = {"d0": d0, "d1": d1}
    scope = _scope(bureau, params)
    if vm_ids is not None:
        params["vms"] = tuple(vm_ids)
        scope += " AND vm_id IN %(vms)s"
    live = {
        r[0]: Decimal(r[1]).quantize(ZERO)
        for r in store.rows(
            f"""SELECT {col}, sum(after_cut) FROM bill_lines
            WHERE day >= %(d0)s AND day < %(d1)s {scope} AND {current_filter()}
            GROUP BY {col}""",
            params,
        )
    }
    out = []
    for k in sorted(set(live) | set(alt)):
        a = Decimal(alt.get(k, 0)) / 100
        lv = live.get(k, ZERO)
        out.append(
            {col: k, "live": lv, "what_if": a.quantize(ZERO), "difference": (a - lv).quantize(ZERO)}
        )
    if record:
        run_id, version = new_run("whatif")
        total = (Decimal(sum(alt.values())) / 100).quantize(ZERO)
        s = RunSummary(
            run_id=run_id,
            kind="whatif",
            period_from=t0.astimezone(dt.UTC),
            period_to=t1.astimezone(dt.UTC),
            tariff_versions=sorted({str(v) for v in rated.tariff_version.tolist()}),
            line_count=len(rated),
            vm_days=0,
            vm_hours=vm_hours,
            total=total,
            previous_total=sum(live.values(), ZERO),
        )
        record_run(store, s, policy, reason, actor, started, len(vm_ids or ()), version)
    return out


# ---- export ------------------------------------------------------------------------


def statement_table(st: Statement, lang: str = "en") -> tuple[list[str], list[list[Any]]]:
    """Header keys and rows of a statement, adjustment lines appended, then the total."""
    _ = translate(lang)
    keys = [st.by, "lines", "list_amount", "after_discount", "after_cut"]
    body: list[list[Any]] = [[r[k] for k in keys] for r in st.rows]
    for a in st.adjustments:
        kind, status = term("adjustment", a["kind"], lang), term("status", a["status"], lang)
        month = f"{a['month']:%Y-%m}"
        label = _(
            "statement.adjustment", provider=a["provider"], kind=kind, month=month, status=status
        )
        body.append([label, "", "", "", a["amount"]])
    body.append([_("statement.total"), sum(r["lines"] for r in st.rows), "", "", st.total])
    return keys, body


def header_names(keys: Sequence[str], lang: str = "en") -> list[str]:
    return column_headers(keys, lang, HEADERS_ZH)


def to_csv(keys: Sequence[str], body: Sequence[Sequence[Any]], lang: str = "en") -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header_names(keys, lang))
    for row in body:
        w.writerow(
            ["" if v is None else neutralise(v) if isinstance(v, str) else str(v) for v in row]
        )
    return buf.getvalue()


def to_xlsx(
    keys: Sequence[str], body: Sequence[Sequence[Any]], path: Path | io.BytesIO, lang: str = "en",
    title: str = "statement",
) -> None:  # fmt: skip
    """Write an XLSX sheet; amounts stay exact (written as numbers with 2 decimals)."""
    from openpyxl import Workbook

    from cloudtally.sheets import text_cells, xlsx_text

    wb = Workbook()
    ws = wb.active
    ws.title = xlsx_text(title)[:31]
    ws.append(header_names(keys, lang))
    for row in body:
        ws.append(
            [float(v) if isinstance(v, Decimal) else xlsx_text(v) if isinstance(v, str) else v
             for v in row]
        )  # fmt: skip
        text_cells(ws[ws.max_row])
        for cell in ws[ws.max_row]:
            if isinstance(cell.value, float):
                cell.number_format = "0.00"
    wb.save(path)
