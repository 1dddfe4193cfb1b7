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

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from cloudtally.core.verification import GroupTotals, VerificationPolicy
from cloudtally.invoices.store import _PLAIN_ID_RE, odd_ids
from cloudtally.store.base import Store

TABLE = "invoice_verify_keys"
Owner = tuple[str, str, str]

# Figures beyond these are left to Python: Decimal128 products stay exact below them
# (chDB wraps silently on overflow; 18.16 raises).
_MAX_QUANTITY = "1000000000000"  # 10^12
_MAX_PRICE = "10000000000"  # 10^10


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


def _expected_sql(slot: str, slot_end: str) -> str:
    """The metered charges of plain ids, one row per (key, resource, slot)."""
    return f"""
        SELECT vm_id AS resource_key, resource AS resource_type, {slot} AS slot,
               toUnixTimestamp(toDateTime(slot, %(tz)s)) AS e_start,
               toUnixTimestamp(toDateTime({slot_end}, %(tz)s)) AS e_end,
               uniqExact(pool) AS e_pools, any(pool) AS e_pool,
               if(uniqExact(bureau) = 1, any(bureau), '') AS e_bureau,
               arrayFilter(x -> x != '', groupUniqArray(bureau)) AS e_owners,
               toDecimal128(sum(quantity), 7) AS e_qh,
               min(unit_price) AS e_pmin, max(unit_price) AS e_pmax,
               toDecimal128(sum(after_cut), 2) AS e_amount,
               toUInt64(sum(unmetered_hours)) AS e_gap,
               toUInt32(count()) AS e_parts,
               toUInt32(max(price_divisor)) AS e_dmax, toUInt32(min(price_divisor)) AS e_dmin,
               groupUniqArray(tariff_version) AS e_versions,
               toUInt8(1) AS e_found
        FROM bill_lines FINAL
        WHERE provider = %(p)s AND day >= %(d0)s AND day < %(d1)s
          AND match(vm_id, %(plain)s)
          AND (vm_id, day, run_id) IN (
              SELECT vm_id, day, argMax(run_id, version) FROM bill_current
              WHERE day >= %(d0)s AND day < %(d1)s GROUP BY vm_id, day)
        GROUP BY resource_key, resource_type, slot
    """


def _lines_sql(slot: str) -> str:
    return f"""
        SELECT resource_key, resource_type, {slot} AS slot, line_no,
               bureau AS l_bureau, charge_category, charge_class, quantity_per, price_per,
               toUnixTimestamp(period_start) AS l_start,
               toUnixTimestamp(period_end) AS l_end,
               toDecimal128(quantity, 6) AS q, unit_price, list_amount, discount_rate,
               contracted_unit_price, contracted_amount, toDecimal128(amount, 2) AS b
        FROM invoice_lines WHERE invoice_id = %(id)s AND import_id = %(imp)s
    """


def _line_ok_sql(policy: VerificationPolicy) -> str:
    """1 when every rule is certainly silent for the line (see the module's docstring)."""
    tol_m = "toDecimal128(%(tol_m)s, 8)"
    tol_q = "toDecimal128(%(tol_q)s, 8)"
    q = "q"
    up, cup = _d("unit_price", 8), _d("contracted_unit_price", 8)
    la, dr, ca = _d("list_amount", 2), _d("discount_rate", 6), _d("contracted_amount", 2)
    big = (
        f"abs({q}) < toDecimal128('{_MAX_QUANTITY}', 0) "
        f"AND abs({up}) < toDecimal128('{_MAX_PRICE}', 0) "
        f"AND abs({cup}) < toDecimal128('{_MAX_PRICE}', 0)"
    )
    gross = _money(f"{q} * if({big}, {up}, toDecimal128(0, 8))")
    g_dr = _money(f"{gross} * {dr}")
    # The amount the line's own figures give (rule A1's "consistent amount") and whether
    # they agree; a list amount without a discount counts only when it is the gross.
    consistent = f"""multiIf(
        isNull(unit_price), b,
        isNotNull(list_amount) AND isNotNull(discount_rate), {g_dr},
        isNotNull(list_amount), b,
        isNotNull(discount_rate), {g_dr},
        b)"""
    a1_ok = f"""(
        isNull(unit_price)
        OR (isNotNull(list_amount) AND isNotNull(discount_rate)
            AND abs({la} - {gross}) <= {tol_m} AND abs(b - {_money(f"{la} * {dr}")}) <= {tol_m})
        OR (isNotNull(list_amount) AND isNull(discount_rate)
            AND ({la} = {gross} OR {la} = 0))
        OR (isNull(list_amount) AND isNotNull(discount_rate) AND abs(b - {g_dr}) <= {tol_m})
        OR (isNull(list_amount) AND isNull(discount_rate)))
      AND (isNull(contracted_unit_price) OR isNull(contracted_amount)
        OR abs({ca} - {_money(f"{q} * if({big}, {cup}, toDecimal128(0, 8))")}) <= {tol_m})"""
    slack = "toDecimal128(toDecimal128('0.005', 3) * (e_parts - 1), 3)"
    qty_ok = f"""if(e_dmax <= 1,
        abs({q} - e_qh) <= {tol_q},
        abs({q} * toDecimal128(e_dmax, 0) - e_qh) <= {tol_q} * toDecimal128(e_dmax, 0))"""
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
        charge_category = 'usage' AND charge_class != 'correction'
        AND l_start >= %(bp0)s AND l_end <= %(bp1)s
        AND resource_type != '' AND e_found = 1 AND l_start < e_end
        AND e_pools = 1 AND e_dmin = e_dmax AND e_pmin = e_pmax
        AND (l_bureau = '' OR empty(e_owners) OR has(e_owners, l_bureau))
        AND (quantity_per = '' OR (e_dmax <= 1 AND quantity_per = 'hour'
                                   AND price_per IN ('', 'hour')))
        AND {big}
        AND {qty_ok}
        AND (isNull(unit_price) OR abs({up} - toDecimal128(e_pmin, 8))
                                   <= toDecimal128('0.000001', 8))
        AND {a1_ok}
        AND abs({consistent} - e_amount) <= {tol_m} + {slack}
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


def _joined_sql(line_slot: str, slot: str, slot_end: str, policy: VerificationPolicy) -> str:
    """Every line with its metered charge and whether the store clears it."""
    return f"""
        SELECT resource_key, resource_type, slot, b, e_amount, e_pool, e_bureau,
               toUInt8({_line_ok_sql(policy)}) AS ok
        FROM ({_lines_sql(line_slot)}) AS l
        ANY LEFT JOIN ({_expected_sql(slot, slot_end)}) AS e
        USING (resource_key, resource_type, slot)
    """


@contextmanager
def cleared(
    store: Store,
    invoice: dict[str, Any],
    *,
    granularity: str,
    policy: VerificationPolicy,
    tz: str = "Asia/Shanghai",
) -> Iterator[Cleared]:
    """Settle what the store can; the keys left for the Python rules are in ``TABLE``
    under the token while the context lasts."""
    token = uuid.uuid4().hex
    params = _params(invoice, policy, tz, token)
    period = (invoice["billing_period_start"], invoice["billing_period_end"])
    if granularity == "month":
        slot, slot_end = "toStartOfMonth(day)", "addMonths(slot, 1)"
        line_slot = "toStartOfMonth(toDate(period_start, %(tz)s))"
    else:
        slot, slot_end = "day", "addDays(slot, 1)"
        line_slot = "toDate(period_start, %(tz)s)"
    joined = _joined_sql(line_slot, slot, slot_end, policy)
    mine = f"(SELECT resource_key FROM {TABLE} WHERE token = %(tok)s)"
    try:
        # Ids that need Unicode normalisation: their keys are always Python's.
        odd = odd_ids(store, invoice["provider"], period, tz=tz)
        if odd:
            keys = sorted(set(odd.values()))
            store.insert(TABLE, {"token": [token] * len(keys), "resource_key": keys})
        # Keys with a line the store does not clear, or two lines in one slot, and keys
        # with a metered charge in the period that no line bills and that is not nothing.
        store.execute(
            f"""
            INSERT INTO {TABLE} (token, resource_key)
            SELECT %(tok)s, resource_key FROM (
                SELECT resource_key FROM ({joined})
                GROUP BY resource_key
                HAVING min(ok) = 0 OR count() != uniqExact(resource_type, slot)
                UNION ALL
                SELECT resource_key FROM ({_expected_sql(slot, slot_end)}) AS e
                ANY LEFT JOIN (
                    SELECT DISTINCT resource_key, resource_type, {line_slot} AS slot,
                           toUInt8(1) AS billed
                    FROM invoice_lines WHERE invoice_id = %(id)s AND import_id = %(imp)s
                ) AS l USING (resource_key, resource_type, slot)
                WHERE billed = 0 AND e_start >= %(bp0)s AND e_end <= %(bp1)s
                  AND abs(e_amount) > toDecimal128(%(tol_m)s, 8)
                      + toDecimal128(toDecimal128('0.005', 3) * (e_parts - 1), 3)
            ) GROUP BY resource_key
            """,
            params,
        )
        out = Cleared(token, candidate_lines=0)
        out.candidate_lines = int(
            store.scalar(
                "SELECT count() FROM invoice_lines WHERE invoice_id = %(id)s "
                f"AND import_id = %(imp)s AND resource_key IN {mine}",
                params,
            )
        )
        provider = invoice["provider"]
        for pool, bureau, billed, expected, n in store.rows(
            f"""
            SELECT e_pool, e_bureau, toString(sum(b)), toString(sum(e_amount)), count()
            FROM ({joined}) WHERE resource_key NOT IN {mine}
            GROUP BY e_pool, e_bureau ORDER BY e_pool, e_bureau
            """,
            params,
        ):
            t = out.totals.setdefault((provider, str(pool), str(bureau)), GroupTotals())
            t.billed += Decimal(billed)
            t.expected += Decimal(expected)
            t.lines += int(n)
            out.cleared_lines += int(n)
        count, versions = store.rows(
            f"""
            SELECT count(), groupUniqArrayArray(e_versions)
            FROM ({_expected_sql(slot, slot_end)}) WHERE resource_key NOT IN {mine}
            """,
            params,
        )[0]
        out.expected_charges = int(count)
        for v in versions:
            out.tariff_versions.update(str(v).split(","))
        yield out
    finally:
        store.execute(f"ALTER TABLE {TABLE} DELETE WHERE token = %(tok)s", {"tok": token})


def merge(result_totals: dict[Owner, GroupTotals], done: Cleared) -> None:
    """Add the cleared keys' totals to the Python pass's (in place)."""
    for owner, t in done.totals.items():
        into = result_totals.setdefault(owner, GroupTotals())
        into.billed += t.billed
        into.expected += t.expected
        into.lines += t.lines

