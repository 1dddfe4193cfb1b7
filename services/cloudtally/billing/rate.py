"""Rating adapter: usage_hourly in ClickHouse -> bill_lines, idempotently, per run.

The heavy lifting is one ClickHouse aggregation per period (GROUP BY vm, local
day, tariff version, provider, pool) returning integer quantities; the pure
core (:mod:`cloudtally.core.rating`) prices them in numpy int64; lines go back
through a Memory staging table that converts integer fen to Decimal in SQL.

Granularity is the local (Asia/Shanghai) day: a period is widened to whole
days, and a run replaces the lines of every (vm_id, day) it covers by moving
the ``bill_current`` pointer to itself. Lines of earlier runs stay queryable
by run_id, so a re-rate keeps the previous result for comparison.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np

from cloudtally.core.policy import BILLED_RESOURCES, UNITS, Policy
from cloudtally.core.rating import (
    UTIL_COLUMNS,
    BillLines,
    DayUsage,
    UtilizationDays,
    fen_to_decimal,
    rate,
)
from cloudtally.core.statements import month_adjustments, month_bounds
from cloudtally.core.tariff import TariffTable, cut_clause
from cloudtally.store.base import Store

log = logging.getLogger(__name__)

EPOCH = dt.date(1970, 1, 1)
_QTY_SQL = {
    "vcpu": "toUInt64(vcpu) * 1000",
    "memory": "toUInt64(mem_gb * 1000)",
    "storage_performance": "toUInt64(storage_gb_performance * 1000)",
    "storage_standard": "toUInt64(storage_gb_standard * 1000)",
    "storage_archive": "toUInt64(storage_gb_archive * 1000)",
}


@dataclass
class RunSummary:
    run_id: str
    kind: str
    period_from: dt.datetime
    period_to: dt.datetime
    tariff_versions: list[str]
    line_count: int
    vm_days: int
    vm_hours: int
    total: Decimal
    previous_total: Decimal
    unpriced: list[tuple[str, str, str, str, int]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)


def day_number(d: dt.date) -> int:
    return (d - EPOCH).days


def local_days(policy: Policy, t0: dt.datetime, t1: dt.datetime) -> tuple[dt.date, dt.date]:
    """[first, end) local dates covering the instants [t0, t1)."""
    z = policy.zone
    first = t0.astimezone(z).date()
    last_instant = t1 - dt.timedelta(microseconds=1)
    return first, last_instant.astimezone(z).date() + dt.timedelta(days=1)


def day_start(policy: Policy, d: dt.date) -> int:
    return int(dt.datetime(d.year, d.month, d.day, tzinfo=policy.zone).timestamp())


def _version_expr(policy: Policy) -> str:
    starts = policy.boundaries()
    if len(starts) == 1:
        return "toUInt8(0)"
    parts = [f"ts < {s}, {i}" for i, s in enumerate(starts[1:])]
    return f"toUInt8(multiIf({', '.join(parts)}, {len(starts) - 1}))"


def _allocation_sql(policy: Policy) -> str:
    """Billed share of a VM-hour in 1e-4: the alloc fraction ('prorate'), or the whole hour
    once the VM existed in it ('started_hour'), per the version's ``partial_hours``."""
    prorate = "toUInt64(floor(alloc_fraction * 10000 + 0.5))"
    started = [i for i, v in enumerate(policy.versions) if v.partial_hours == "started_hour"]
    if not started:
        return prorate
    return (
        f"if({_version_expr(policy)} IN {tuple([*started, 255])} AND alloc_fraction > 0, "
        f"toUInt64(10000), {prorate})"
    )


def _scope_sql(vm_ids: Sequence[str] | None) -> str:
    return "" if vm_ids is None else "AND vm_id IN %(vms)s"


def fetch_usage(
    store: Store,
    policy: Policy,
    d0: dt.date,
    d1: dt.date,
    vm_ids: Sequence[str] | None = None,
    resources: tuple[str, ...] = BILLED_RESOURCES,
) -> tuple[DayUsage, UtilizationDays, int]:
    """One scan of usage_hourly: day quantities in [d0, d1) and utilization sums.

    Utilization sums cover whole calendar months around [d0, d1) when a
    low-utilization clause is evaluated per month. Returns (usage, util, vm-hours).
    """
    tz = policy.timezone
    monthly = any(
        (c := cut_clause(v, p.id)) is not None and c.period == "month"
        for v in policy.versions
        for p in v.providers
    )
    u0, u1 = (
        (month_bounds(d0)[0], month_bounds(d1 - dt.timedelta(days=1))[1]) if monthly else (d0, d1)
    )
    no_bill_unmetered = [i for i, v in enumerate(policy.versions) if not v.bill_unmetered_hours]
    a4 = _allocation_sql(policy)
    billable = (
        "1"
        if not no_bill_unmetered
        else f"(NOT unmetered OR ver NOT IN {tuple([*no_bill_unmetered, 255])})"
    )
    q_cols = ",\n".join(
        f"sumIf({_QTY_SQL[r]} * a4, in_range AND {billable}) AS q_{r}" for r in resources
    )
    sql = f"""
    SELECT vm_id, dayn, ver, provider, pool,
        argMax(bureau, ts) AS bureau, argMax(system, ts) AS system,
        sumIf(a4, in_range) AS hours_e4,
        countIf(in_range AND unmetered) AS unmetered_hours,
        countIf(in_range) AS vm_hours,
        {q_cols},
        sumIf(business_weight, isNotNull(cpu_avg)) AS d_w_cpu,
        sumIf(business_weight * ifNull(cpu_avg, 0), isNotNull(cpu_avg)) AS d_x_cpu,
        countIf(isNotNull(cpu_avg) AND business_weight > 0) AS d_n_cpu,
        sumIf(business_weight, isNotNull(mem_avg)) AS d_w_mem,
        sumIf(business_weight * ifNull(mem_avg, 0), isNotNull(mem_avg)) AS d_x_mem,
        countIf(isNotNull(mem_avg) AND business_weight > 0) AS d_n_mem,
        sumIf(toFloat64(ifNull(cpu_avg, 0)), isNotNull(cpu_avg)) AS a_x_cpu,
        countIf(isNotNull(cpu_avg)) AS a_n_cpu,
        sumIf(toFloat64(ifNull(mem_avg, 0)), isNotNull(mem_avg)) AS a_x_mem,
        countIf(isNotNull(mem_avg)) AS a_n_mem,
        sum(calendar_provisional) AS cal_prov
    FROM (
        SELECT vm_id, provider, pool, bureau, system, cpu_avg, mem_avg, business_weight,
            calendar_provisional, vcpu, mem_gb, storage_gb_performance, storage_gb_standard,
            storage_gb_archive,
            toUInt32(hour) AS ts,
            toUInt16(toDate(hour, '{tz}')) AS dayn,
            {_version_expr(policy)} AS ver,
            {a4} AS a4,
            (isNull(cpu_avg) OR isNull(mem_avg)) AS unmetered,
            (hour >= %(r0)s AND hour < %(r1)s) AS in_range
        FROM usage_hourly FINAL
        WHERE hour >= %(u0)s AND hour < %(u1)s {_scope_sql(vm_ids)}
    )
    GROUP BY vm_id, dayn, ver, provider, pool
    """
    params: dict[str, Any] = {
        "u0": dt.datetime.fromtimestamp(day_start(policy, u0), dt.UTC),
        "u1": dt.datetime.fromtimestamp(day_start(policy, u1), dt.UTC),
        "r0": dt.datetime.fromtimestamp(day_start(policy, d0), dt.UTC),
        "r1": dt.datetime.fromtimestamp(day_start(policy, d1), dt.UTC),
    }
    if vm_ids is not None:
        params["vms"] = tuple(vm_ids)
    cols = store.columns(sql, params)
    n = len(cols["vm_id"]) if cols else 0
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        eobj = np.zeros(0, dtype=object)
        usage = DayUsage(eobj, empty, empty, eobj, eobj, eobj, eobj, empty, empty,
                         {r: empty for r in resources})  # fmt: skip
        return usage, UtilizationDays(eobj, empty, {c: empty for c in UTIL_COLUMNS}), 0
    day = cols["dayn"].astype(np.int64)
    util = UtilizationDays(
        vm_id=np.asarray(cols["vm_id"], dtype=object),
        day=day,
        sums={c: np.asarray(cols[c], dtype=np.float64) for c in UTIL_COLUMNS},
    )
    inr = (day >= day_number(d0)) & (day < day_number(d1))
    pick = np.flatnonzero(inr)
    usage = DayUsage(
        vm_id=np.asarray(cols["vm_id"], dtype=object)[pick],
        day=day[pick],
        version_index=cols["ver"].astype(np.int64)[pick],
        bureau=np.asarray(cols["bureau"], dtype=object)[pick],
        system=np.asarray(cols["system"], dtype=object)[pick],
        pool=np.asarray(cols["pool"], dtype=object)[pick],
        provider=np.asarray(cols["provider"], dtype=object)[pick],
        hours_e4=cols["hours_e4"].astype(np.int64)[pick],
        unmetered_hours=cols["unmetered_hours"].astype(np.int64)[pick],
        quantities={r: cols[f"q_{r}"].astype(np.int64)[pick] for r in resources},
    )
    return usage, util, int(cols["vm_hours"].sum())


def fiscal_years(policy: Policy, day: np.ndarray) -> np.ndarray:
    d = day.astype("datetime64[D]")
    y = d.astype("datetime64[Y]").astype(np.int64) + 1970
    m = d.astype("datetime64[M]").astype(np.int64) % 12 + 1
    sm = policy.fiscal_year.start_month
    if sm == 1:
        return y
    start_year = np.where(m >= sm, y, y - 1)
    return start_year + 1 if policy.fiscal_year.label == "end_year" else start_year


STAGE_DDL = """
CREATE TABLE {name} (
    vm_id String, dayn UInt16, fiscal_year UInt16, bureau String, system String, pool String,
    provider String, resource String, tariff_version String, quantity_e7 Int64, unit String,
    price_micro Int64, price_divisor UInt16, list_fen Int64, discount_fen Int64, cut_fen Int64,
    adjustments String, utilization_basis Float64, hours_e4 Int64, unmetered_hours UInt16,
    calendar_provisional UInt8, month_provisional UInt8
) ENGINE = Memory
"""

INSERT_FROM_STAGE = """
INSERT INTO bill_lines (vm_id, day, month, fiscal_year, bureau, system, pool, provider, resource,
    tariff_version, quantity, unit, unit_price, price_divisor, list_amount, after_discount,
    after_cut, adjustments, utilization_basis, hours, unmetered_hours, calendar_provisional,
    month_provisional, run_id, version)
SELECT vm_id, addDays(toDate('1970-01-01'), dayn) AS d, toStartOfMonth(d), fiscal_year, bureau,
    system, pool, provider, resource, tariff_version,
    toDecimal64(quantity_e7, 0) * toDecimal64('0.0000001', 7), unit,
    toDecimal64(price_micro, 0) * toDecimal64('0.000001', 6), price_divisor,
    toDecimal64(list_fen, 0) * toDecimal64('0.01', 2),
    toDecimal64(discount_fen, 0) * toDecimal64('0.01', 2),
    toDecimal64(cut_fen, 0) * toDecimal64('0.01', 2),
    adjustments, if(isNaN(utilization_basis), NULL, toFloat32(utilization_basis)),
    toDecimal64(hours_e4, 0) * toDecimal64('0.0001', 4), unmetered_hours, calendar_provisional,
    month_provisional, %(run)s, %(version)s
FROM {name}
"""


def line_columns(policy: Policy, tariff: TariffTable, lines: BillLines) -> dict[str, Any]:
    """Staging columns of rated lines (integers; Decimal conversion happens in SQL)."""
    terms = tariff.terms
    price_micro = np.array([t.price_micro for t in terms], dtype=np.int64)
    divisor = np.array([t.divisor for t in terms], dtype=np.uint16)
    unit = np.array([UNITS[t.resource] for t in terms], dtype=object)
    tid = lines.term_id
    return {
        "vm_id": lines.vm_id,
        "dayn": lines.day.astype(np.uint16),
        "fiscal_year": fiscal_years(policy, lines.day).astype(np.uint16),
        "bureau": lines.bureau,
        "system": lines.system,
        "pool": lines.pool,
        "provider": lines.provider,
        "resource": lines.resource,
        "tariff_version": lines.tariff_version,
        "quantity_e7": lines.quantity_e7.astype(np.int64),
        "unit": unit[tid],
        "price_micro": price_micro[tid],
        "price_divisor": divisor[tid],
        "list_fen": lines.list_fen,
        "discount_fen": lines.discount_fen,
        "cut_fen": lines.cut_fen,
        "adjustments": lines.adjustments,
        "utilization_basis": lines.utilization_basis.astype(np.float64),
        "hours_e4": lines.hours_e4.astype(np.int64),
        "unmetered_hours": lines.unmetered_hours.astype(np.uint16),
        "calendar_provisional": lines.calendar_provisional.astype(np.uint8),
        "month_provisional": lines.month_provisional.astype(np.uint8),
    }


def new_run(kind: str) -> tuple[str, int]:
    now = dt.datetime.now(dt.UTC)
    return f"{kind}-{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}", time.time_ns()


def current_filter(d0: str = "%(d0)s", d1: str = "%(d1)s", extra: str = "") -> str:
    """SQL predicate: the line belongs to the current run of its (vm_id, day)."""
    return f"""(vm_id, day, run_id) IN (
        SELECT vm_id, day, argMax(run_id, version) FROM bill_current
        WHERE day >= {d0} AND day < {d1} {extra} GROUP BY vm_id, day)"""


def _current_total(store: Store, d0: dt.date, d1: dt.date, vm_ids: Sequence[str] | None) -> Decimal:
    scope = _scope_sql(vm_ids)
    params: dict[str, Any] = {"d0": d0, "d1": d1}
    if vm_ids is not None:
        params["vms"] = tuple(vm_ids)
    v = store.scalar(
        f"SELECT sum(after_cut) FROM bill_lines WHERE day >= %(d0)s AND day < %(d1)s {scope} "
        f"AND {current_filter(extra=scope)}",
        params,
    )
    return Decimal(v or 0).quantize(Decimal("0.01"))


def rate_period(
    store: Store,
    policy: Policy,
    t0: dt.datetime,
    t1: dt.datetime,
    vm_ids: Sequence[str] | None = None,
    run_kind: str = "stream",
    reason: str = "",
    actor: str = "",
    progress: Callable[[str, int, int], None] | None = None,
    chunk_days: int = 31,
    now: float | None = None,
) -> RunSummary:
    """Rate [t0, t1) (widened to whole local days) and make the result current.

    Idempotent: re-running replaces the same (vm_id, day) keys with identical
    lines under a new run. With ``vm_ids`` only those VMs are recomputed.
    Large periods are processed in chunks of ``chunk_days``; ``progress(stage,
    done_days, total_days)`` is called after each chunk. Lines under a monthly
    low-utilization cut whose month has not ended by ``now`` (default: the clock)
    are marked ``month_provisional``.
    """
    if run_kind not in ("stream", "rerate"):
        raise ValueError("run_kind must be 'stream' or 'rerate' (what-if never writes lines)")
    d0, d1 = local_days(policy, t0, t1)
    run_id, version = new_run(run_kind)
    tariff = TariffTable(policy)
    started = dt.datetime.now(dt.UTC)
    previous = _current_total(store, d0, d1, vm_ids)
    timings: dict[str, float] = {"fetch": 0.0, "rate": 0.0, "write": 0.0}
    lines_n = vm_days = vm_hours = 0
    total_fen = 0
    unpriced: list[tuple[str, str, str, str, int]] = []
    versions_used: set[str] = set()
    total_days = (d1 - d0).days
    stage = f"bill_stage_{uuid.uuid4().hex[:12]}"
    store.execute(STAGE_DDL.format(name=stage))
    try:
        c0 = d0
        while c0 < d1:
            c1 = min(d1, c0 + dt.timedelta(days=chunk_days))
            t = time.perf_counter()
            usage, util, hours = fetch_usage(store, policy, c0, c1, vm_ids)
            timings["fetch"] += time.perf_counter() - t
            t = time.perf_counter()
            open_from = dt.datetime.fromtimestamp(now or time.time(), policy.zone).date()
            lines = rate(tariff, usage, util, open_from_day=day_number(open_from))
            timings["rate"] += time.perf_counter() - t
            t = time.perf_counter()
            store.insert(stage, line_columns(policy, tariff, lines))
            timings["write"] += time.perf_counter() - t
            lines_n += len(lines)
            vm_hours += hours
            total_fen += lines.total_fen()
            unpriced += lines.unpriced
            versions_used.update(str(v) for v in set(lines.tariff_version.tolist()))
            if progress:
                progress("rated", (c1 - d0).days, total_days)
            c0 = c1
        t = time.perf_counter()
        store.execute(INSERT_FROM_STAGE.format(name=stage), {"run": run_id, "version": version})
        # Point every (vm, day) of the scope at this run: the new lines, and any
        # previously current (vm, day) that now rates to nothing.
        scope = _scope_sql(vm_ids)
        params: dict[str, Any] = {
            "run": run_id, "version": version, "d0": d0, "d1": d1,
            "n0": day_number(d0), "n1": day_number(d1),
        }  # fmt: skip
        if vm_ids is not None:
            params["vms"] = tuple(vm_ids)
        store.execute(
            f"""INSERT INTO bill_current (vm_id, day, run_id, version)
            SELECT vm_id, day, %(run)s, %(version)s FROM (
                SELECT vm_id, addDays(toDate('1970-01-01'), dayn) AS day FROM {stage}
                UNION ALL
                SELECT vm_id, day FROM bill_current
                WHERE day >= %(d0)s AND day < %(d1)s {scope}
            ) GROUP BY vm_id, day""",
            params,
        )
        vm_days = int(
            store.scalar(f"SELECT count() FROM (SELECT DISTINCT vm_id, dayn FROM {stage})")
        )
        from cloudtally.billing import totals  # the totals read model, in the same step

        totals.refresh(store, d0, d1, vm_ids)
        timings["write"] += time.perf_counter() - t
    finally:
        store.execute(f"DROP TABLE IF EXISTS {stage}")
    total = fen_to_decimal(total_fen)
    summary = RunSummary(
        run_id=run_id,
        kind=run_kind,
        period_from=dt.datetime.fromtimestamp(day_start(policy, d0), dt.UTC),
        period_to=dt.datetime.fromtimestamp(day_start(policy, d1), dt.UTC),
        tariff_versions=sorted(versions_used),
        line_count=lines_n,
        vm_days=vm_days,
        vm_hours=vm_hours,
        total=total,
        previous_total=previous,
        unpriced=unpriced,
        seconds=timings,
    )
    record_run(store, summary, policy, reason, actor, started, len(vm_ids or ()), version)
    if run_kind == "rerate":  # a re-rate fixes money: it is a ledger entry with its reason
        from cloudtally.audit.ledger import append

        append(store, "rerate", {"run_id": run_id}, actor=actor, reason=reason)
    if unpriced:
        log.warning("run %s: %d usage rows had no price in the tariff", run_id, len(unpriced))
    return summary


def record_run(
    store: Store,
    s: RunSummary,
    policy: Policy,
    reason: str,
    actor: str,
    started: dt.datetime,
    vm_scope: int,
    version: int,
) -> None:
    store.insert(
        "rating_runs",
        {
            "run_id": [s.run_id],
            "kind": [s.kind],
            "period_from": [int(s.period_from.timestamp())],
            "period_to": [int(s.period_to.timestamp())],
            "tariff_versions": [s.tariff_versions],
            "vm_scope": [vm_scope],
            "reason": [reason],
            "actor": [actor],
            "policy_name": [policy.name],
            "started_at": [int(started.timestamp())],
            "finished_at": [int(time.time())],
            "line_count": [s.line_count],
            "vm_days": [s.vm_days],
            "unpriced": [len(s.unpriced)],
            "total": [s.total],
            "previous_total": [s.previous_total],
            "version": [version],
        },
    )


# ---- month close: volume tiers --------------------------------------------------------


def month_totals(store: Store, month: dt.date) -> tuple[dict[str, Decimal], dict[str, Decimal]]:
    """Per provider: the month's fee (Σ after_cut of current lines) and vCPU-hours."""
    d0, d1 = month_bounds(month)
    rows = store.rows(
        f"""SELECT provider, sum(after_cut), sumIf(quantity, resource = 'vcpu')
        FROM bill_lines WHERE day >= %(d0)s AND day < %(d1)s AND {current_filter()}
        GROUP BY provider""",
        {"d0": d0, "d1": d1},
    )
    return (
        {r[0]: Decimal(r[1]) for r in rows},
        {r[0]: Decimal(r[2]) for r in rows},
    )


def accrue_month(
    store: Store, policy: Policy, month: dt.date, final: bool = False, run_id: str = ""
) -> list[dict[str, Any]]:
    """Compute the month's volume-tier lines and write them (provisional or final)."""
    first, _ = month_bounds(month)
    fees, vcpu = month_totals(store, first)
    adjustments = month_adjustments(policy, first, fees, vcpu)
    existing = {
        r[0]
        for r in store.rows(
            "SELECT provider FROM statement_lines FINAL"
            " WHERE month = %(m)s AND kind = 'volume_tier'",
            {"m": first},
        )
    }
    rows: list[dict[str, Any]] = []
    fy = policy.fiscal_year_of(first)
    for a in adjustments:
        rows.append(
            {
                "provider": a.provider, "tariff_version": a.tariff_version, "basis": a.basis,
                "mode": a.mode, "basis_value": a.basis_value, "fee": a.fee, "amount": a.amount,
                "details": a.details,
            }
        )  # fmt: skip
    for prov in sorted(existing - {a.provider for a in adjustments}):
        # A provider that had a tier line but no longer has one: zero it, never leave it stale.
        rows.append(
            {
                "provider": prov, "tariff_version": "", "basis": "", "mode": "",
                "basis_value": Decimal(0), "fee": fees.get(prov, Decimal(0)),
                "amount": Decimal("0.00"), "details": "{}",
            }
        )  # fmt: skip
    if rows:
        v = time.time_ns()
        store.insert(
            "statement_lines",
            {
                "month": [first] * len(rows),
                "fiscal_year": [fy] * len(rows),
                "provider": [r["provider"] for r in rows],
                "kind": ["volume_tier"] * len(rows),
                "status": ["final" if final else "provisional"] * len(rows),
                "tariff_version": [r["tariff_version"] for r in rows],
                "basis": [r["basis"] for r in rows],
                "mode": [r["mode"] for r in rows],
                "basis_value": [r["basis_value"] for r in rows],
                "fee": [r["fee"] for r in rows],
                "amount": [r["amount"] for r in rows],
                "details": [r["details"] for r in rows],
                "run_id": [run_id] * len(rows),
                "computed_at": [int(time.time())] * len(rows),
                "version": [v] * len(rows),
            },
        )
    return rows


def close_month(
    store: Store,
    policy: Policy,
    month: dt.date,
    actor: str = "",
    *,
    reason: str = "",
    reference: str = "",
) -> list[dict[str, Any]]:
    """Final volume-tier lines for a month, from its current bill lines, then issue it.

    The first close issues revision 0; closing an issued month again is a restatement
    (:mod:`cloudtally.audit.issue`) and needs a reason; an unchanged month issues nothing.
    """
    from cloudtally.audit.issue import NothingToRestate, check_can_issue, issue_month

    first, nxt = month_bounds(month)
    check_can_issue(store, first, reason)
    run_id, version = new_run("close")
    rows = accrue_month(store, policy, first, final=True, run_id=run_id)
    if policy.service_levels is not None:  # SLA credits from the meter's availability
        from cloudtally.evaluation.credits import accrue_credits

        rows += accrue_credits(store, policy, first, final=True, run_id=run_id)
    total = sum((r["amount"] for r in rows), Decimal("0.00"))
    now = dt.datetime.now(dt.UTC)
    s = RunSummary(
        run_id=run_id,
        kind="close",
        period_from=dt.datetime.fromtimestamp(day_start(policy, first), dt.UTC),
        period_to=dt.datetime.fromtimestamp(day_start(policy, nxt), dt.UTC),
        tariff_versions=sorted({r["tariff_version"] for r in rows if r["tariff_version"]}),
        line_count=len(rows),
        vm_days=0,
        vm_hours=0,
        total=total,
        previous_total=Decimal(0),
    )
    record_run(store, s, policy, reason or f"close {first:%Y-%m}", actor, now, 0, version)
    try:
        issue_month(store, first, actor=actor, reason=reason, reference=reference)
    except NothingToRestate as exc:
        log.info("%s", exc)
    return rows
