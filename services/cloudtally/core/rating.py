"""Rating: a VM's hourly usage, aggregated per Asia/Shanghai day, into bill lines.

One line per (VM, resource, local day, tariff version): quantity in unit-hours,
list amount (quantity × catalog unit price), amount after the tender discount
and after the low-utilization cut, each computed from the exact product and
rounded ROUND_HALF_UP to 0.01 CNY on its own (no rounding cascades), so every
amount can be re-derived from the line's quantity and unit price.

Exact and fast: quantities are integer 1e-7 unit-hours, prices micro-CNY,
ratios 1e-4; per price term the factor ``fen per quantity unit`` is reduced to
a fraction a/b and each line's amount is ``round_half_up(q × a / b)`` in numpy
int64 (split as ``(q // b) × a + round((q % b) × a / b)`` so it cannot
overflow); the rare term whose fraction is too large goes through Python
integers. :func:`reference_amounts` is the slow Decimal definition the tests
compare against.

Low-utilization evidence uses metered hours only (an hour with a NULL CPU or
memory average is a gap, no evidence either way); a figure is rounded half-up
to 0.01 % before it is compared with the threshold, and the cut applies only
when it is strictly below.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Any

import numpy as np
import pandas as pd

from cloudtally.core.policy import BILLED_RESOURCES, LowUtilization
from cloudtally.core.tariff import PRICE_SCALE, Q_SCALE, RATIO_SCALE, PriceTerm, TariffTable

FEN = 100
CENT = Decimal("0.01")
_SAFE = 2**61

NDArray = np.ndarray[Any, Any]


@dataclass
class DayUsage:
    """Usage per (vm, local day, tariff version index, provider, pool), columnar.

    ``day`` is the local date as days since 1970-01-01; ``quantities`` maps a
    resource to integer 1e-7 unit-hours (Σ allocated units × hour fraction).
    """

    vm_id: NDArray
    day: NDArray
    version_index: NDArray
    bureau: NDArray
    system: NDArray
    pool: NDArray
    provider: NDArray
    hours_e4: NDArray
    unmetered_hours: NDArray
    quantities: dict[str, NDArray]

    def __len__(self) -> int:
        return len(self.vm_id)


# Daily utilization sums per (vm, local day), metered hours only.
# d_* : weighted by the business-hours weight (daytime); a_* : every hour weight 1.
# cal_prov: hours weighted by the weekday rule (no official schedule for their year).
UTIL_COLUMNS = (
    "d_w_cpu", "d_x_cpu", "d_n_cpu", "d_w_mem", "d_x_mem", "d_n_mem",
    "a_x_cpu", "a_n_cpu", "a_x_mem", "a_n_mem", "cal_prov",
)  # fmt: skip


@dataclass
class UtilizationDays:
    vm_id: NDArray
    day: NDArray
    sums: dict[str, NDArray]


@dataclass
class BillLines:
    """Rated lines, columnar. Amounts are integer fen; quantity integer 1e-7 unit-hours."""

    vm_id: NDArray
    day: NDArray
    bureau: NDArray
    system: NDArray
    pool: NDArray
    provider: NDArray
    resource: NDArray
    term_id: NDArray
    tariff_version: NDArray
    quantity_e7: NDArray
    list_fen: NDArray
    discount_fen: NDArray
    cut_fen: NDArray
    cut_applied: NDArray
    utilization_basis: NDArray  # float, NaN when no clause applies or no evidence
    adjustments: NDArray
    hours_e4: NDArray
    unmetered_hours: NDArray
    unpriced: list[tuple[str, str, str, str, int]] = field(default_factory=list)
    # True when the line's evidence (its day, or its month for a monthly cut) holds
    # hours weighted by the weekday rule: re-derived once the year's schedule is given.
    calendar_provisional: NDArray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    # True when the line's cut is judged on a calendar month that was not complete at
    # rating time (days from ``open_from_day`` on were still open): it may still change.
    month_provisional: NDArray = field(default_factory=lambda: np.zeros(0, dtype=bool))

    def __len__(self) -> int:
        return len(self.vm_id)

    def total_fen(self) -> int:
        return int(self.cut_fen.sum())


# ---- exact integer arithmetic ---------------------------------------------------


def fraction_for(term: PriceTerm, stage: str) -> tuple[int, int]:
    """Fen per quantity unit of one stage ('list', 'discount', 'cut') as a reduced a/b."""
    a = term.price_micro * FEN
    b = Q_SCALE * PRICE_SCALE * term.divisor
    if stage in ("discount", "cut"):
        a *= term.tender_e4
        b *= RATIO_SCALE
    if stage == "cut":
        a *= term.keep_e4
        b *= RATIO_SCALE
    g = math.gcd(a, b)
    return a // g, b // g


def muldiv_half_up(q: NDArray, a: NDArray, b: NDArray) -> NDArray:
    """round_half_up(q × a / b) for non-negative int64 arrays, exact; a × b must be < 2**61."""
    hi, lo = np.divmod(q, b)
    out: NDArray = hi * a + (2 * lo * a + b) // (2 * b)
    return out


def _stage_amounts(q: NDArray, term_ids: NDArray, fracs: list[tuple[int, int]]) -> NDArray:
    a = np.array([f[0] for f in fracs], dtype=object)
    b = np.array([f[1] for f in fracs], dtype=object)
    safe = np.array([fa * fb < _SAFE for fa, fb in fracs], dtype=bool)
    out = np.zeros(len(q), dtype=np.int64)
    if len(q) == 0:
        return out
    fast = safe[term_ids]
    if fast.any():
        t = term_ids[fast]
        out[fast] = muldiv_half_up(q[fast], a[t].astype(np.int64), b[t].astype(np.int64))
    if not fast.all():  # Python integers in object arrays: exact whatever the size
        slow = np.flatnonzero(~fast)
        t = term_ids[slow]
        qa = q[slow].astype(object) * a[t]
        bb = b[t]
        out[slow] = ((2 * qa + bb) // (2 * bb)).astype(np.int64)
    return out


def reference_amounts(quantity_e7: int, term: PriceTerm, cut: bool) -> tuple[Decimal, ...]:
    """The definition, in Decimal: (list, after discount, after cut), each rounded on its own."""
    with localcontext() as ctx:
        ctx.prec = 80
        q = Decimal(quantity_e7) / Q_SCALE
        list_exact = q * term.unit_price / term.divisor
        disc_exact = list_exact * term.tender
        cut_exact = disc_exact
        if cut and term.cut_clause is not None:
            cut_exact = disc_exact * (1 - term.cut_clause.price_cut)
        return tuple(
            x.quantize(CENT, rounding=ROUND_HALF_UP) for x in (list_exact, disc_exact, cut_exact)
        )


# ---- low-utilization evidence -----------------------------------------------------


def _round_pct(x: NDArray) -> NDArray:
    """Round a utilization percentage half-up to 0.01 (NaN stays NaN)."""
    return np.floor(x * 100.0 + 0.5) / 100.0


def month_end_day(day: NDArray) -> NDArray:
    """Days since epoch -> the first day of the next month (days since epoch)."""
    d = np.asarray(day, dtype=np.int64).astype("datetime64[D]")
    nxt = d.astype("datetime64[M]") + np.timedelta64(1, "M")
    out: NDArray = nxt.astype("datetime64[D]").astype(np.int64)
    return out


def month_index(day: NDArray) -> NDArray:
    """Days since epoch -> year × 12 + month − 1."""
    d = day.astype("datetime64[D]")
    y = d.astype("datetime64[Y]").astype(np.int64) + 1970
    m = d.astype("datetime64[M]").astype(np.int64) % 12
    return y * 12 + m


def utilization_figures(
    clause: LowUtilization, util: UtilizationDays, vm_code: NDArray, period_key: NDArray
) -> tuple[NDArray, NDArray]:
    """Per requested (vm, period): (figure compared with the threshold, cut applies?).

    ``vm_code``/``period_key`` are the lines' keys, coded consistently with
    ``util`` by the caller (see :func:`rate`).
    """
    prefix = "d" if clause.basis == "daytime_weighted" else "a"
    frame = pd.DataFrame(
        {
            "vm": util.vm_id,
            "key": util.day if clause.period == "day" else month_index(util.day),
        }
    )
    if prefix == "d":
        cols = {
            "w_cpu": util.sums["d_w_cpu"], "x_cpu": util.sums["d_x_cpu"],
            "n_cpu": util.sums["d_n_cpu"], "w_mem": util.sums["d_w_mem"],
            "x_mem": util.sums["d_x_mem"], "n_mem": util.sums["d_n_mem"],
        }  # fmt: skip
    else:
        cols = {
            "w_cpu": util.sums["a_n_cpu"], "x_cpu": util.sums["a_x_cpu"],
            "n_cpu": util.sums["a_n_cpu"], "w_mem": util.sums["a_n_mem"],
            "x_mem": util.sums["a_x_mem"], "n_mem": util.sums["a_n_mem"],
        }  # fmt: skip
    for k, v in cols.items():
        frame[k] = np.asarray(v, dtype=np.float64)
    agg = frame.groupby(["vm", "key"], sort=False).sum()
    want = pd.MultiIndex.from_arrays([vm_code, period_key])
    got = agg.reindex(want)
    n_min = clause.min_metered_hours
    with np.errstate(invalid="ignore", divide="ignore"):
        cpu = np.where(
            (got["n_cpu"].to_numpy() >= n_min) & (got["w_cpu"].to_numpy() > 0),
            got["x_cpu"].to_numpy() / got["w_cpu"].to_numpy(),
            np.nan,
        )
        mem = np.where(
            (got["n_mem"].to_numpy() >= n_min) & (got["w_mem"].to_numpy() > 0),
            got["x_mem"].to_numpy() / got["w_mem"].to_numpy(),
            np.nan,
        )
    cpu, mem = _round_pct(cpu), _round_pct(mem)
    th = float(clause.threshold_pct)
    with np.errstate(invalid="ignore"):
        if clause.metric == "cpu":
            figure, low = cpu, cpu < th
        elif clause.metric == "mem":
            figure, low = mem, mem < th
        elif clause.metric == "cpu_and_mem":
            figure = np.fmax(cpu, mem)
            figure = np.where(np.isnan(cpu) | np.isnan(mem), np.nan, figure)
            low = (cpu < th) & (mem < th)
        else:  # cpu_or_mem: either evidenced figure below the threshold
            figure = np.fmin(cpu, mem)
            low = (cpu < th) | (mem < th)
    return figure, np.asarray(low, dtype=bool)


def provisional_evidence(
    util: UtilizationDays, vm: NDArray, key: NDArray, monthly: bool
) -> NDArray:
    """Per requested (vm, day or month key): does its evidence hold a provisional hour?"""
    counts = util.sums.get("cal_prov")
    if counts is None or not len(vm):
        return np.zeros(len(vm), dtype=bool)
    frame = pd.DataFrame(
        {
            "vm": util.vm_id,
            "key": month_index(util.day) if monthly else util.day,
            "p": np.asarray(counts, dtype=np.float64),
        }
    )
    got = frame.groupby(["vm", "key"], sort=False)["p"].sum()
    want = got.reindex(pd.MultiIndex.from_arrays([vm, key])).to_numpy()
    return np.asarray(np.nan_to_num(want) > 0, dtype=bool)


# ---- rating ----------------------------------------------------------------------------


def rate(
    tariff: TariffTable,
    usage: DayUsage,
    util: UtilizationDays | None = None,
    resources: tuple[str, ...] = BILLED_RESOURCES,
    open_from_day: int | None = None,
) -> BillLines:
    """Rate day usage into bill lines (pure; numpy; exact to the fen).

    ``open_from_day`` (days since epoch): the first local day not yet closed; a line
    under a monthly cut whose month reaches it is marked ``month_provisional``."""
    n = len(usage)
    # Term of each (row, resource): look up once per distinct (version, provider, pool).
    combo = pd.DataFrame({"v": usage.version_index, "prov": usage.provider, "pool": usage.pool})
    codes, uniques = pd.factorize(pd.MultiIndex.from_frame(combo))
    rows_parts: list[NDArray] = []
    term_parts: list[NDArray] = []
    res_parts: list[NDArray] = []
    q_parts: list[NDArray] = []
    unpriced: list[tuple[str, str, str, str, int]] = []
    for ri, res in enumerate(resources):
        q_all = usage.quantities.get(res)
        if q_all is None:
            continue
        per_combo = np.array(
            [tariff.term_id(int(v), str(p), str(pl), res) for v, p, pl in uniques], dtype=np.int64
        )
        terms = per_combo[codes] if n else np.zeros(0, dtype=np.int64)
        billable = q_all > 0
        missing = billable & (terms < 0)
        for i in np.flatnonzero(missing):
            unpriced.append(
                (
                    str(usage.vm_id[i]),
                    str(usage.provider[i]),
                    str(usage.pool[i]),
                    res,
                    int(q_all[i]),
                )
            )
        keep = np.flatnonzero(billable & (terms >= 0))
        rows_parts.append(keep)
        term_parts.append(terms[keep])
        res_parts.append(np.full(len(keep), ri, dtype=np.int8))
        q_parts.append(q_all[keep].astype(np.int64))

    rows = np.concatenate(rows_parts) if rows_parts else np.zeros(0, dtype=np.int64)
    term_ids = np.concatenate(term_parts) if term_parts else np.zeros(0, dtype=np.int64)
    res_idx = np.concatenate(res_parts) if res_parts else np.zeros(0, dtype=np.int8)
    q = np.concatenate(q_parts) if q_parts else np.zeros(0, dtype=np.int64)

    terms = tariff.terms
    list_fen = _stage_amounts(q, term_ids, [fraction_for(t, "list") for t in terms])
    disc_fen = _stage_amounts(q, term_ids, [fraction_for(t, "discount") for t in terms])

    # Low-utilization: per distinct clause, evaluate the lines whose term carries it.
    cut_applied = np.zeros(len(q), dtype=bool)
    figure = np.full(len(q), np.nan)
    clause_of_term = [t.cut_clause for t in terms]
    clauses: list[LowUtilization] = []
    for c in clause_of_term:
        if c is not None and c not in clauses:
            clauses.append(c)
    vm_rows = usage.vm_id[rows]
    day_rows = usage.day[rows].astype(np.int64)
    provisional = (
        provisional_evidence(util, vm_rows, day_rows, False)
        if util is not None
        else np.zeros(len(q), dtype=bool)
    )
    month_open = np.zeros(len(q), dtype=bool)
    if clauses and len(q):
        for clause in clauses:
            has = np.array([c == clause for c in clause_of_term], dtype=bool)
            sel = np.flatnonzero(has[term_ids])
            if not len(sel):
                continue
            if util is None:
                continue
            key = day_rows[sel] if clause.period == "day" else month_index(day_rows[sel])
            fig, low = utilization_figures(clause, util, vm_rows[sel], key)
            figure[sel] = fig
            cut_applied[sel] = low
            if clause.period == "month":
                provisional[sel] |= provisional_evidence(util, vm_rows[sel], key, True)
                if open_from_day is not None:
                    month_open[sel] = month_end_day(day_rows[sel]) > open_from_day
    cut_fracs = [
        fraction_for(t, "cut") if t.cut_clause is not None else fraction_for(t, "discount")
        for t in terms
    ]
    cut_fen = disc_fen.copy()
    if cut_applied.any():
        idx = np.flatnonzero(cut_applied)
        cut_fen[idx] = _stage_amounts(q[idx], term_ids[idx], cut_fracs)

    # Adjustments: one JSON string per (term, cut applied), shared by reference.
    adj_table = np.array(
        [t.adjustments(False) for t in terms] + [t.adjustments(True) for t in terms], dtype=object
    )
    adjustments = (
        adj_table[term_ids + cut_applied.astype(np.int64) * len(terms)]
        if len(q)
        else (np.zeros(0, dtype=object))
    )
    versions = np.array([t.version for t in terms], dtype=object)
    res_names = np.array(resources, dtype=object)
    return BillLines(
        vm_id=usage.vm_id[rows],
        day=usage.day[rows],
        bureau=usage.bureau[rows],
        system=usage.system[rows],
        pool=usage.pool[rows],
        provider=usage.provider[rows],
        resource=res_names[res_idx] if len(q) else np.zeros(0, dtype=object),
        term_id=term_ids,
        tariff_version=versions[term_ids] if len(q) else np.zeros(0, dtype=object),
        quantity_e7=q,
        list_fen=list_fen,
        discount_fen=disc_fen,
        cut_fen=cut_fen,
        cut_applied=cut_applied,
        utilization_basis=figure,
        adjustments=adjustments,
        hours_e4=usage.hours_e4[rows],
        unmetered_hours=usage.unmetered_hours[rows],
        unpriced=unpriced,
        calendar_provisional=provisional,
        month_provisional=month_open,
    )


def fen_to_decimal(fen: int) -> Decimal:
    return (Decimal(int(fen)) / FEN).quantize(CENT)
