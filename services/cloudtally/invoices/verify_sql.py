"""Verification as SQL: the store settles the lines that match their metered charge.

A million-line invoice is nearly all lines that agree with metering. Building
each of them (and each expected charge) as a Python object cost most of a
verification's time and memory. Here the store joins the invoice's lines to
the metered charges (the current bill lines aggregated to the invoice's
granularity, as :func:`cloudtally.invoices.store.load_expected` builds them)
and decides, per normalised resource key, whether every rule is certainly
silent for it:

* every line of the key is a usage line inside the billing period, alone in
  its charge's slot (no D1), billed to the metered owner or to no bureau (no O1),
  in the catalog's own units;
* its own figures agree (no A1): ``quantity × unit price``, the list amount and
  the discount, the contracted figures, each within the money tolerance with
  ROUND_HALF_UP to the fen done in Decimal in the engine;
* its quantity is the metered one within the quantity tolerance (no Q1/Q2/B2/G1),
  its unit price is the catalog's (no U1), the amount its figures give is the
  expected amount within tolerance and rounding slack (no R1/R2/R3/X1), and its
  gap share is not above the informational threshold (no G2);
* every metered charge of the key in the period is billed, or is below the
  money tolerance (no M1).

These are sufficient conditions, each at most as wide as the rule's own
tolerance: a key they do not clear, or one the store cannot judge exactly
(ids that need Unicode normalisation, mixed prices or divisors in one slot,
figures too large for Decimal128), is written to ``invoice_verify_keys`` and
checked by the Python rules exactly as before. Cleared keys contribute only
their totals (billed, expected, lines), summed in the engine in Decimal. So
the findings, amounts and totals are the Python pass's (tests/invoices/
test_verify_sql.py compares both), and a figure near a threshold is always
decided by the rule itself.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from cloudtally.core.verification import GroupTotals, VerificationPolicy
from cloudtally.invoices.store import _PLAIN_ID_RE, _range_sql, odd_ids, plan_partitions
from cloudtally.store.base import Store

TABLE = "invoice_verify_keys"
Owner = tuple[str, str, str]

# Figures beyond these are left to Python: Decimal128 products stay exact below them
# (chDB wraps silently on overflow; 18.16 raises).
_MAX_QUANTITY = "1000000000000"  # 10^12
_MAX_PRICE = "10000000000"  # 10^10
# Lines joined at once. At 1M lines (load 1-2; docs/invoices.md): 100k → verification
# peak 741 MB, 50k → 679, 25k → 630, and 612-622 with each pass's memory released, for
# about 2.5 s more verification (5.6 → 8 s); earlier 250k → 870.
PASS_LINES = 25_000


@dataclass
class Cleared:
    """What the store settled: the pass's token and the cleared keys' contribution."""

    token: str
    candidate_lines: int
    cleared_lines: int = 0
    totals: dict[Owner, GroupTotals] = field(default_factory=dict)
    expected_charges: int = 0
    tariff_versions: set[str] = field(default_factory=set)


def applicable(policy: VerificationPolicy) -> bool:
    """The store's conditions need non-negative absolute tolerances (the usual ones)."""
    tol = policy.tolerances
    return tol.money_abs >= 0 and tol.quantity_abs >= 0


def _money(expr: str) -> str:
    """ROUND_HALF_UP to the fen in Decimal: the cast truncates toward zero on both engines."""
    half = "toDecimal128('0.005', 3)"
    return (
        f"if(({expr}) >= 0, CAST(({expr}) + {half} AS Decimal(38, 2)), "
        f"CAST(({expr}) - {half} AS Decimal(38, 2)))"
    )


def _d(column: str, scale: int) -> str:
    """A (possibly Nullable) Decimal column as Decimal128 (18.16 mis-multiplies mixed widths)."""
    return f"ifNull(toDecimal128({column}, {scale}), toDecimal128(0, {scale}))"


def _expected_sql(slot: str, slot_end: str, where: str = "") -> str:
    """The metered charges of plain ids (``where`` too), one row per (key, resource, slot)."""
    return f"""
        SELECT vm_id AS resource_key, resource AS resource_type, {slot} AS slot,
               toUnixTimestamp(toDateTime(slot, %(tz)s)) AS e_start,
               toUnixTimestamp(toDateTime({slot_end}, %(tz)s)) AS e_end,
               -- min/max, not uniqExact/groupUniqArray: no hash set per charge
               min(pool) AS e_pool, min(bureau) AS e_bmin, max(bureau) AS e_bmax,
               if(e_bmin = e_bmax, e_bmin, '') AS e_bureau,
               toDecimal128(sum(quantity), 7) AS e_qh,
               min(unit_price) AS e_pmin, max(unit_price) AS e_pmax,
               toDecimal128(sum(after_cut), 2) AS e_amount,
               toUInt64(sum(unmetered_hours)) AS e_gap,
               toUInt32(count()) AS e_parts,
               toUInt32(max(price_divisor)) AS e_dmax,
               -- one pool, one price and one divisor in the slot, or Python decides
               toUInt8(e_pool = max(pool) AND e_dmax = min(price_divisor)
                       AND e_pmin = e_pmax) AS e_ok,
               min(tariff_version) AS e_vmin, max(tariff_version) AS e_vmax,
               any(vm_id) AS e_key, toUInt8(1) AS e_found
        FROM bill_lines FINAL
        WHERE provider = %(p)s AND day >= %(d0)s AND day < %(d1)s
          AND match(vm_id, %(plain)s) {where}
          AND (vm_id, day, run_id) IN (
              SELECT vm_id, day, argMax(run_id, version) FROM bill_current
              WHERE day >= %(d0)s AND day < %(d1)s {where} GROUP BY vm_id, day)
        GROUP BY resource_key, resource_type, slot
    """


def _lines_sql(slot: str, where: str = "") -> str:
    """The invoice's lines with the checks that need only the line done before the join:
    whether it is in the period, typed and its own figures agree (rule A1: ``l_ok``), and
    the amount its figures give (``consistent``). Each step is a column of the step below
    it, so every product is computed once."""
    tol_m = "toDecimal128(%(tol_m)s, 8)"
    zero8 = "toDecimal128(0, 8)"
    figures = f"""
        SELECT resource_key, resource_type, {slot} AS slot, bureau AS l_bureau,
               charge_category, charge_class, quantity_per, price_per,
               toUnixTimestamp(period_start) AS l_start, toUnixTimestamp(period_end) AS l_end,
               toDecimal128(quantity, 6) AS q, toDecimal128(amount, 2) AS b,
               isNotNull(unit_price) AS has_up, {_d("unit_price", 8)} AS up,
               isNotNull(list_amount) AS has_la, {_d("list_amount", 2)} AS la,
               isNotNull(discount_rate) AS has_dr, {_d("discount_rate", 6)} AS dr,
               isNotNull(contracted_unit_price) AND isNotNull(contracted_amount) AS has_c,
               {_d("contracted_unit_price", 8)} AS cup, {_d("contracted_amount", 2)} AS ca,
               toUInt8(abs(q) < toDecimal128('{_MAX_QUANTITY}', 0)
                       AND abs(up) < toDecimal128('{_MAX_PRICE}', 0)
                       AND abs(cup) < toDecimal128('{_MAX_PRICE}', 0)) AS small,
               q * if(small = 1, up, {zero8}) AS x_gross, q * if(small = 1, cup, {zero8}) AS x_c,
               toUInt8(1) AS l_found
        FROM invoice_lines WHERE invoice_id = %(id)s AND import_id = %(imp)s {where}"""
    rounded = f"""
        SELECT *, {_money("x_gross")} AS gross, {_money("x_c")} AS c_amt,
               {_money("la * dr")} AS la_dr
        FROM ({figures})"""
    discounted = f"SELECT *, {_money('gross * dr')} AS g_dr FROM ({rounded})"
    # Only what the join needs leaves: the line's own checks as one flag (in the billing
    # period, a usage line with a type, figures small enough and agreeing: A1); its unit
    # basis (0: catalog, 1: hourly on both sides, 2: needs converting). A list amount
    # without a discount counts only when it is the gross (or zero).
    per_line = f"""
        SELECT resource_key, resource_type, slot, l_bureau AS bureau_1, l_start AS start_1,
               q AS q_1, b AS b_1, has_up AS has_up_1, up AS up_1,
               toUInt8(charge_category = 'usage' AND charge_class != 'correction'
                 AND l_start >= %(bp0)s AND l_end <= %(bp1)s AND resource_type != ''
                 AND small = 1 AND (has_up = 0
                 OR (has_la AND has_dr AND abs(la - gross) <= {tol_m} AND abs(b - la_dr) <= {tol_m})
                 OR (has_la AND NOT has_dr AND (la = gross OR la = 0))
                 OR (NOT has_la AND has_dr AND abs(b - g_dr) <= {tol_m})
                 OR (NOT has_la AND NOT has_dr))
               AND (has_c = 0 OR abs(ca - c_amt) <= {tol_m})) AS ok_1,
               multiIf(quantity_per = '', 0,
                       quantity_per = 'hour' AND price_per IN ('', 'hour'), 1, 2) AS basis_1,
               if(has_up = 1 AND has_dr = 1, g_dr, b) AS consistent_1
        FROM ({discounted})"""
    # One row per (key, type, slot): a slot billed twice (l_n > 1) is Python's (D1), so a
    # cleared slot's any() is its one line.
    return f"""
        SELECT resource_key, resource_type, slot, toUInt32(count()) AS l_n,
               toDecimal128(sum(b_1), 2) AS l_b, any(bureau_1) AS l_bureau,
               any(start_1) AS l_start, any(q_1) AS q, any(has_up_1) AS has_up,
               any(up_1) AS up, min(ok_1) AS l_ok, any(basis_1) AS l_basis,
               any(consistent_1) AS consistent, toUInt8(1) AS l_found
        FROM ({per_line}) GROUP BY resource_key, resource_type, slot"""


def _line_ok_sql(policy: VerificationPolicy) -> str:
    """1 when every rule is certainly silent for the line (see the module's docstring)."""
    tol_m = "toDecimal128(%(tol_m)s, 8)"
    tol_q = "toDecimal128(%(tol_q)s, 8)"
    slack = "toDecimal128(toDecimal128('0.005', 3) * (e_parts - 1), 3)"
    qty_ok = f"""if(e_dmax <= 1,
        abs(q - e_qh) <= {tol_q},
        abs(q * toDecimal128(e_dmax, 0) - e_qh) <= {tol_q} * toDecimal128(e_dmax, 0))"""
    gap_ok = "1"
    if policy.bill_unmetered_hours:
        micro = policy.gap_info_threshold * 1_000_000
        if micro == micro.to_integral() and micro >= 0:
            gap_ok = (
                "(e_gap = 0 OR ((e_end - e_start) %% 3600 = 0 "
                f"AND e_gap * 3600 * 1000000 <= {int(micro)} * (e_end - e_start)))"
            )
        else:
            gap_ok = "e_gap = 0"
    return f"""(
        l_n = 1 AND l_ok = 1 AND e_found = 1 AND l_start < e_end AND e_ok = 1
        AND (l_bureau = '' OR (e_bmin = e_bmax AND (e_bmin = '' OR e_bmin = l_bureau)))
        AND (l_basis = 0 OR (l_basis = 1 AND e_dmax <= 1))
        AND {qty_ok}
        AND (has_up = 0 OR abs(up - toDecimal128(e_pmin, 8)) <= toDecimal128('0.000001', 8))
        AND abs(consistent - e_amount) <= {tol_m} + {slack}
        AND {gap_ok})"""


def _params(
    invoice: dict[str, Any], policy: VerificationPolicy, tz: str, token: str
) -> dict[str, Any]:
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(tz)
    p0, p1 = invoice["billing_period_start"], invoice["billing_period_end"]
    tol = policy.tolerances
    return {
        "id": invoice["invoice_id"],
        "imp": invoice["import_id"],
        "p": invoice["provider"],
        "d0": p0.astimezone(zone).date(),
        "d1": p1.astimezone(zone).date(),
        "bp0": int(p0.timestamp()),
        "bp1": int(p1.timestamp()),
        "tz": tz,
        "plain": _PLAIN_ID_RE,
        "tok": token,
        "tol_m": format(tol.money_abs.quantize(Decimal("0.00000001")), "f"),
        "tol_q": format(tol.quantity_abs.quantize(Decimal("0.00000001")), "f"),
    }


def _pass_sql(
    line_slot: str, slot: str, slot_end: str, policy: VerificationPolicy, ranges: tuple[str, str]
) -> str:
    """Per (key, metered owner): whether the store clears it, its lines, billed and expected
    fen, metered charges and tariff versions. Lines and metered charges are joined in full:
    a charge no line bills is cleared only when it is nothing (no M1)."""
    unbilled_ok = (
        "NOT (e_start >= %(bp0)s AND e_end <= %(bp1)s AND abs(e_amount) > "
        "toDecimal128(%(tol_m)s, 8) + toDecimal128(toDecimal128('0.005', 3) * (e_parts - 1), 3))"
    )
    return f"""
        SELECT k, e_pool, e_bureau,
               min(ok) AS ok, toUInt32(sumIf(l_n, l_found = 1)) AS n,
               toInt64(sumIf(l_b, l_found = 1) * 100) AS billed_fen,
               toInt64(sumIf(e_amount, l_found = 1) * 100) AS expected_fen,
               toUInt32(countIf(e_found = 1)) AS charges,
               minIf(e_vmin, e_found = 1) AS vmin, maxIf(e_vmax, e_found = 1) AS vmax
        FROM (
            SELECT if(l_found = 1, resource_key, e_key) AS k, e_pool, e_bureau, l_n, l_b,
                   e_amount, l_found, e_found, e_vmin, e_vmax,
                   if(l_found = 1, toUInt8({_line_ok_sql(policy)}), toUInt8({unbilled_ok})) AS ok
            FROM ({_lines_sql(line_slot, ranges[0])}) AS l
            ALL FULL OUTER JOIN ({_expected_sql(slot, slot_end, ranges[1])}) AS e
            USING (resource_key, resource_type, slot))
        GROUP BY k, e_pool, e_bureau
    """


@contextmanager
def cleared(
    store: Store,
    invoice: dict[str, Any],
    *,
    granularity: str,
    policy: VerificationPolicy,
    tz: str = "Asia/Shanghai",
    pass_lines: int | None = None,
) -> Iterator[Cleared]:
    """Settle what the store can; the keys left for the Python rules are in ``TABLE``
    under the token while the context lasts. The invoice is joined in key ranges of
    about ``pass_lines`` lines (the join's memory)."""
    import pandas as pd

    token = uuid.uuid4().hex
    period = (invoice["billing_period_start"], invoice["billing_period_end"])
    if granularity == "month":
        slot, slot_end = "toStartOfMonth(day)", "addMonths(slot, 1)"
        line_slot = "toStartOfMonth(toDate(period_start, %(tz)s))"
    else:
        slot, slot_end = "day", "addDays(slot, 1)"
        line_slot = "toDate(period_start, %(tz)s)"
    n_lines = int(
        store.scalar(
            "SELECT count() FROM invoice_lines WHERE invoice_id = %(id)s AND import_id = %(imp)s",
            {"id": invoice["invoice_id"], "imp": invoice["import_id"]},
        )
    )
    parts = plan_partitions(
        store,
        invoice["invoice_id"],
        invoice["import_id"],
        invoice["provider"],
        period,
        lines=n_lines,
        partition_lines=pass_lines or _env_lines("CLOUDTALLY_INVOICE_PASS_LINES", PASS_LINES),
        tz=tz,
    )
    odd = set((parts[0].odd or odd_ids(store, invoice["provider"], period, tz=tz)).values())
    out = Cleared(token, candidate_lines=0)
    try:
        for part in parts:
            params = _params(invoice, policy, tz, token)
            ranges = (
                _range_sql("resource_key", part.key_range, params),
                _range_sql("vm_id", part.key_range, params),
            )
            sql = _pass_sql(line_slot, slot, slot_end, policy, ranges)
            df = pd.DataFrame(store.columns(sql, params))
            store.release_memory()  # the join's freed memory, before the next pass's
            if df.empty:
                continue
            df["k"] = df["k"].map(_text)
            bad = df["ok"].eq(0) | df["k"].isin(odd)
            left = df["k"].isin(set(df.loc[bad, "k"]))
            keys = sorted(set(df.loc[left, "k"]) | (odd & _in_range(odd, part.key_range)))
            if keys:
                store.insert(TABLE, {"token": [token] * len(keys), "resource_key": keys})
            out.candidate_lines += int(df.loc[left, "n"].sum())
            clean = df[~left]
            out.expected_charges += int(clean["charges"].sum())
            charged = clean[clean["charges"] > 0]
            one = charged["vmin"].eq(charged["vmax"])
            if bool(one.all()):
                versions = set(charged["vmin"].map(_text))
            else:  # a slot rated under several versions: ask for all of them
                versions = _versions(store, params, slot, slot_end, ranges[1])
            for v in versions:
                out.tariff_versions.update(v.split(","))
            billed = clean[clean["n"] > 0]
            sums = billed.groupby(
                [billed["e_pool"].map(_text), billed["e_bureau"].map(_text)], sort=True
            )[["billed_fen", "expected_fen", "n"]].sum()
            for (pool, bureau), row in sums.iterrows():
                t = out.totals.setdefault((invoice["provider"], pool, bureau), GroupTotals())
                t.billed += Decimal(int(row["billed_fen"])).scaleb(-2)
                t.expected += Decimal(int(row["expected_fen"])).scaleb(-2)
                t.lines += int(row["n"])
                out.cleared_lines += int(row["n"])
        yield out
    finally:
        store.execute(f"ALTER TABLE {TABLE} DELETE WHERE token = %(tok)s", {"tok": token})


def _versions(
    store: Store, params: dict[str, Any], slot: str, slot_end: str, where: str
) -> set[str]:
    """Every tariff version of the range's metered charges (a superset of the cleared
    keys'; the Python pass adds the rest, so the run's set is the same)."""
    sql = _expected_sql(slot, slot_end, where).replace(
        "min(tariff_version) AS e_vmin", "groupUniqArray(tariff_version) AS e_vs, ''AS e_vmin"
    )
    (versions,) = store.rows(f"SELECT groupUniqArrayArray(e_vs) FROM ({sql})", params)[0]
    return {_text(v) for v in versions}


def _env_lines(name: str, default: int) -> int:
    try:
        return max(1, int(os.environ.get(name, "")))
    except ValueError:
        return default


def _text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _in_range(keys: set[str], key_range: tuple[str | None, str | None]) -> set[str]:
    lo, hi = key_range
    return {k for k in keys if (lo is None or k >= lo) and (hi is None or k < hi)}


def merge(result_totals: dict[Owner, GroupTotals], done: Cleared) -> None:
    """Add the cleared keys' totals to the Python pass's (in place)."""
    for owner, t in done.totals.items():
        into = result_totals.setdefault(owner, GroupTotals())
        into.billed += t.billed
        into.expected += t.expected
        into.lines += t.lines
