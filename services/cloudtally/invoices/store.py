"""Invoices, their lines and verification results in ClickHouse (both engines).

Visibility rules that make imports and runs atomic without transactions:

* invoice lines are written under a fresh ``import_id``; the ``invoices`` row
  (ReplacingMergeTree, read FINAL) is written last and names that import, so
  readers never see a half-written or failed import;
* findings and totals are written under a fresh ``run_id``; the run's
  ``verification_runs`` row with status ``done`` is written last.

Every query that can be scoped to a bureau takes ``bureau`` and filters
inside the SQL, so a bureau never receives another bureau's rows.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from typing import Any

import numpy as np

from cloudtally.core.invoice import InvoiceLine, money
from cloudtally.core.units import rescale
from cloudtally.core.verification import (
    RULES,
    Adjustment,
    ExpectedCharge,
    ExpectedCredit,
    Finding,
    VerificationResult,
    VmLifecycle,
)
from cloudtally.i18n.findings import message_id, rule_label
from cloudtally.i18n.findings import render as render_finding
from cloudtally.store.base import Store

ZERO = Decimal(0)
_LINE_DECIMALS = (
    "quantity",
    "unit_price",
    "list_amount",
    "discount_rate",
    "contracted_unit_price",
    "contracted_amount",
    "amount",
)
_LINE_STRINGS = (
    "resource_id",
    "resource_key",
    "resource_name",
    "resource_type_raw",
    "resource_type",
    "charge_category",
    "charge_class",
    "unit",
    "currency",
    "pool",
    "region",
    "sku",
    "description",
    "bureau",
    "quantity_per",
    "price_per",
)


def _epoch(value: dt.datetime) -> int:
    return int(value.timestamp())


def _utc(epoch: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(int(epoch), dt.UTC)


def _dec(text: Any) -> Decimal | None:
    if text is None or text == "":
        return None
    return Decimal(str(text))


# ------------------------------------------------------------------ imports


def insert_lines(
    store: Store, invoice_id: str, import_id: str, lines: Sequence[InvoiceLine]
) -> int:
    """Columnar insert of one chunk of lines under an import (invisible until the header)."""
    if not lines:
        return 0
    cols: dict[str, Any] = {
        "invoice_id": [invoice_id] * len(lines),
        "import_id": [import_id] * len(lines),
        "line_no": [ln.line_no for ln in lines],
        "period_start": [_epoch(ln.period_start) for ln in lines],
        "period_end": [_epoch(ln.period_end) for ln in lines],
    }
    for name in _LINE_STRINGS:
        cols[name] = [getattr(ln, name) for ln in lines]
    for name in _LINE_DECIMALS:
        values = [getattr(ln, name) for ln in lines]
        cols[name] = _decimal_text(values) if store.engine == "chdb" else values
    return store.insert("invoice_lines", cols)


def insert_columns(
    store: Store, invoice_id: str, import_id: str, columns: Mapping[str, Any]
) -> int:
    """A columnar chunk's lines (:class:`cloudtally.invoices.columnar.Chunk`): Arrow
    columns, decimals as the exact text :func:`insert_lines` sends chDB."""
    constants = {"invoice_id": invoice_id, "import_id": import_id}
    if store.engine == "chdb":
        return store.insert("invoice_lines", dict(columns), constants)
    cols = dict(columns)
    for name in _LINE_DECIMALS:  # the driver wants Decimals: the same values, each once
        texts = cols[name].to_pylist()
        table = {t: Decimal(t) for t in set(texts) if t is not None}
        table[None] = None
        out = np.empty(len(texts), dtype=object)
        out[:] = [table[t] for t in texts]
        cols[name] = out
    return store.insert("invoice_lines", cols, constants)


def _decimal_text(values: list[Decimal | None]) -> np.ndarray:
    """Decimals as exact text for chDB, which casts text to the column's Decimal type.

    Arrow infers a precision per Python Decimal (about 4 µs a value, most of an
    import's insert time); text converts in the engine with the same truncation
    to the column's scale.
    """
    out = np.empty(len(values), dtype=object)
    out[:] = [None if v is None else str(v) for v in values]
    for i, text in enumerate(out):
        if text is not None and ("E" in text or "e" in text):
            out[i] = format(values[i], "f")
    return out


def insert_header(store: Store, header: dict[str, Any]) -> None:
    row = dict(header)
    for k in ("billing_period_start", "billing_period_end", "imported_at"):
        if isinstance(row[k], dt.datetime):
            row[k] = _epoch(row[k])
    row.setdefault("version", time.time_ns())
    store.insert("invoices", {k: [v] for k, v in row.items()})


def discard_import(store: Store, import_id: str, *, wait_s: float = 60.0) -> None:
    """Delete a failed import's lines and wait until the deletion is done."""
    store.execute("ALTER TABLE invoice_lines DELETE WHERE import_id = %(imp)s", {"imp": import_id})
    wait_mutations(store, "invoice_lines", wait_s)


def wait_mutations(store: Store, table: str, wait_s: float = 60.0) -> None:
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        pending = store.scalar(
            "SELECT count() FROM system.mutations WHERE database = %(db)s AND table = %(t)s "
            "AND is_done = 0",
            {"db": store.database, "t": table},
        )
        if not pending:
            return
        time.sleep(0.05)


_HEADER_COLS = (
    "invoice_id, import_id, provider, provider_invoice_no, source_format, file_name, file_hash, "
    "file_bytes, toUnixTimestamp(billing_period_start) AS period_start, "
    "toUnixTimestamp(billing_period_end) AS period_end, currency, "
    "toUnixTimestamp(imported_at) AS imported_at, imported_by, row_count, "
    "toString(billed_total) AS billed_total, toString(status) AS status, source_currency, "
    "exchange_rate"
)


def _header(row: dict[str, Any]) -> dict[str, Any]:
    row["billing_period_start"] = _utc(row.pop("period_start"))
    row["billing_period_end"] = _utc(row.pop("period_end"))
    row["imported_at"] = _utc(row["imported_at"])
    row["billed_total"] = money(Decimal(row["billed_total"]))
    return row


def find_by_hash(store: Store, file_hash: str) -> dict[str, Any] | None:
    rows = store.dicts(
        f"SELECT {_HEADER_COLS} FROM invoices FINAL WHERE file_hash = %(h)s "
        "AND status != 'withdrawn' ORDER BY imported_at LIMIT 1",
        {"h": file_hash},
    )
    return _header(rows[0]) if rows else None


def get_invoice(store: Store, invoice_id: str) -> dict[str, Any] | None:
    rows = store.dicts(
        f"SELECT {_HEADER_COLS} FROM invoices FINAL WHERE invoice_id = %(id)s",
        {"id": invoice_id},
    )
    return _header(rows[0]) if rows else None


def list_invoices(store: Store, provider: str | None = None) -> list[dict[str, Any]]:
    where = "WHERE provider = %(p)s" if provider else ""
    rows = store.dicts(
        f"SELECT {_HEADER_COLS} FROM invoices FINAL {where} ORDER BY imported_at, invoice_id",
        {"p": provider} if provider else None,
    )
    return [_header(r) for r in rows]


def set_status(store: Store, invoice_id: str, status: str) -> None:
    inv = get_invoice(store, invoice_id)
    if inv is None:
        raise LookupError(invoice_id)
    inv["status"] = status
    inv["version"] = time.time_ns()
    insert_header(store, inv)


def count_lines(store: Store, invoice_id: str, *, visible_only: bool = True) -> int:
    """Lines of an invoice; ``visible_only=False`` also counts orphaned import attempts."""
    if not visible_only:
        return int(
            store.scalar(
                "SELECT count() FROM invoice_lines WHERE invoice_id = %(id)s", {"id": invoice_id}
            )
        )
    inv = get_invoice(store, invoice_id)
    if inv is None:
        return 0
    return int(
        store.scalar(
            "SELECT count() FROM invoice_lines WHERE invoice_id = %(id)s AND import_id = %(imp)s",
            {"id": invoice_id, "imp": inv["import_id"]},
        )
    )


KeyRange = tuple[str | None, str | None]  # [low, high) of normalised resource keys


def load_lines(
    store: Store,
    invoice_id: str,
    *,
    key_range: KeyRange | None = None,
    token: str = "",
    keys: Sequence[str] = (),
) -> list[InvoiceLine]:
    """The visible lines of an invoice, in line order; only keys in ``key_range`` if given,
    only the keys a verification pass left for Python (``token``) if given, and only the
    resource ``keys`` if given."""
    inv = get_invoice(store, invoice_id)
    if inv is None:
        raise LookupError(f"no invoice {invoice_id!r}")
    params: dict[str, Any] = {"id": invoice_id, "imp": inv["import_id"]}
    where = "invoice_id = %(id)s AND import_id = %(imp)s"
    if key_range is not None:
        where += _range_sql("resource_key", key_range, params)
    if token:
        params["tok"] = token
        where += f" AND resource_key IN {_LEFT_KEYS}"
    if keys:
        params["keys"] = tuple(keys)
        where += " AND resource_key IN %(keys)s"
    dec_sql = ", ".join(f"ifNull(toString({c}), '') AS {c}" for c in _LINE_DECIMALS)
    cols = store.columns(
        f"SELECT line_no, toUInt32(toUnixTimestamp(period_start)) AS ps, "
        f"toUInt32(toUnixTimestamp(period_end)) AS pe, {', '.join(_LINE_STRINGS)}, {dec_sql} "
        f"FROM invoice_lines WHERE {where} ORDER BY line_no",
        params,
    )
    n = len(cols["line_no"])

    def instants(name: str) -> list[dt.datetime]:
        epochs = cols[name].tolist()
        table = {e: _utc(e) for e in set(epochs)}
        return list(map(table.__getitem__, epochs))

    def strings(name: str) -> list[str]:
        # String columns (not Nullable) come back as str on both engines; bytes only if asked.
        values: list[Any] = cols[name].tolist()
        if set(map(type, values)) <= {str}:
            return values
        return [_str(v) for v in values]

    def decimals(name: str) -> list[Decimal | None]:
        texts: list[str] = strings(name)
        table: dict[str, Decimal | None] = {t: Decimal(t) for t in set(texts) if t}
        table[""] = None
        return list(map(table.__getitem__, texts))

    ps, pe = instants("ps"), instants("pe")
    s = {name: strings(name) for name in _LINE_STRINGS}
    for name in _LINE_REPEATED:
        s[name] = _shared(s[name])
    d = {name: decimals(name) for name in _LINE_DECIMALS}
    none: list[None] = [None] * n
    empty = [""] * n
    # Positional, in InvoiceLine's field order (a keyword call per line costs twice as much).
    return list(
        map(
            InvoiceLine,
            cols["line_no"].tolist(),
            s["resource_id"],
            s["resource_key"],
            s["resource_type_raw"],
            s["resource_type"],
            ps,
            pe,
            [x or ZERO for x in d["quantity"]],
            [x or ZERO for x in d["amount"]],
            s["unit"],
            d["unit_price"],
            d["list_amount"],
            d["discount_rate"],
            d["contracted_unit_price"],
            d["contracted_amount"],
            s["resource_name"],
            s["charge_category"],
            s["charge_class"],
            s["currency"],
            s["pool"],
            s["region"],
            s["sku"],
            s["description"],
            empty,
            empty,
            none,
            none,
            s["bureau"],
            s["quantity_per"],
            s["price_per"],
        )
    )


def _range_sql(column: str, key_range: KeyRange, params: dict[str, Any]) -> str:
    lo, hi = key_range
    sql = ""
    if lo is not None:
        params["key_lo"] = lo
        sql += f" AND {column} >= %(key_lo)s"
    if hi is not None:
        params["key_hi"] = hi
        sql += f" AND {column} < %(key_hi)s"
    return sql


# Columns with few distinct values: one shared str per value, not one per line.
_LINE_REPEATED = (
    "resource_type_raw",
    "resource_type",
    "charge_category",
    "charge_class",
    "unit",
    "currency",
    "pool",
    "region",
    "sku",
    "bureau",
    "quantity_per",
    "price_per",
)


def _shared(values: list[Any]) -> list[Any]:
    """Equal values as one object (a column read back holds a copy per row)."""
    table = {v: v for v in set(values)}
    return list(map(table.__getitem__, values))


def _pylist(arr: Any) -> list[Any]:
    """A result column as a Python list; strings as str on both engines."""
    values: list[Any] = arr.tolist()
    if values and isinstance(values[0], bytes):
        return [_str(v) for v in values]
    return values


def _str(v: Any) -> str:
    if type(v) is str:
        return v
    if isinstance(v, bytes):
        return v.decode()
    return "" if v is None else str(v)


# ---------------------------------------------------------- metered truth

# Raw ids made only of these characters are their own normalised key (printable
# ASCII without capitals or spaces); any other id is normalised in Python.
_PLAIN_ID_RE = "^[!-@\\[-~]*$"
# The keys a verification pass left for the Python rules (cloudtally.invoices.verify_sql).
_LEFT_KEYS = "(SELECT resource_key FROM invoice_verify_keys WHERE token = %(tok)s)"


@dataclass(frozen=True)
class VmPart:
    """A partition of VMs by normalised resource key, expressible on raw ids in SQL.

    Raw ids that are already normalised (nearly all) are selected by the key
    range itself; the few that are not (``odd``: raw id → key, for the whole
    invoice) are excluded from every range and added by name to the part
    their key falls in.
    """

    key_range: KeyRange
    odd: Mapping[str, str]
    # A verification pass's token: only the keys it left for Python (and every odd id).
    token: str = ""

    def contains(self, key: str) -> bool:
        lo, hi = self.key_range
        return (lo is None or key >= lo) and (hi is None or key < hi)

    def sql(self, column: str, params: dict[str, Any]) -> str:
        sql = self._range(column, params)
        if self.token:
            params["tok"], params["plain"] = self.token, _PLAIN_ID_RE
            sql += f" AND ({column} IN {_LEFT_KEYS} OR NOT match({column}, %(plain)s))"
        return sql

    def _range(self, column: str, params: dict[str, Any]) -> str:
        sql = _range_sql(column, self.key_range, params)
        if not self.odd:
            return sql
        params["odd_all"] = tuple(self.odd)
        mine = tuple(raw for raw, key in self.odd.items() if self.contains(key))
        if mine:
            params["odd_mine"] = mine
            return f" AND ((1 {sql} AND {column} NOT IN %(odd_all)s) OR {column} IN %(odd_mine)s)"
        return f" {sql} AND {column} NOT IN %(odd_all)s"


def plan_partitions(
    store: Store,
    invoice_id: str,
    import_id: str,
    provider: str,
    period: tuple[dt.datetime, dt.datetime],
    *,
    lines: int,
    partition_lines: int,
    tz: str = "Asia/Shanghai",
    token: str = "",
) -> list[VmPart]:
    """Key ranges splitting an invoice into about ``partition_lines`` lines each.

    Boundaries are quantiles of a sample of the invoice's resource keys; the
    ranges cover every key, so every line, expected charge and VM falls in
    exactly one part. With ``token``, ``lines`` counts the lines left for
    Python and every part holds only theirs.
    """
    n_parts = -(-lines // max(1, partition_lines))
    if n_parts <= 1:
        return [VmPart((None, None), {}, token)]
    step = max(1, lines // (n_parts * 100))
    params: dict[str, Any] = {"id": invoice_id, "imp": import_id, "step": step, "tok": token}
    left = f" AND resource_key IN {_LEFT_KEYS}" if token else ""
    sample = sorted(
        str(k)
        for (k,) in store.rows(
            "SELECT resource_key FROM invoice_lines WHERE invoice_id = %(id)s "
            f"AND import_id = %(imp)s{left} AND line_no %% %(step)s = 0",
            params,
        )
    )
    bounds = sorted({sample[len(sample) * i // n_parts] for i in range(1, n_parts)} - {""})
    odd = odd_ids(store, provider, period, tz=tz)
    edges: list[str | None] = [None, *bounds, None]
    return [VmPart((edges[i], edges[i + 1]), odd, token) for i in range(len(edges) - 1)]


def odd_ids(
    store: Store, provider: str, period: tuple[dt.datetime, dt.datetime], *, tz: str
) -> dict[str, str]:
    """Raw VM ids (inventory, and the provider's bill lines in the period) that are not
    their own normalised key, each with its key."""
    from zoneinfo import ZoneInfo

    from cloudtally.core.invoice import norm_resource_id

    zone = ZoneInfo(tz)
    d0 = period[0].astimezone(zone).date()
    d1 = period[1].astimezone(zone).date()
    rows = store.rows(
        """
        SELECT DISTINCT vm_id FROM (
            SELECT vm_id FROM vm_inventory
            UNION ALL
            SELECT vm_id FROM bill_lines
            WHERE provider = %(p)s AND day >= %(d0)s AND day < %(d1)s)
        WHERE NOT match(vm_id, %(plain)s)
        """,
        {"p": provider, "d0": d0, "d1": d1, "plain": _PLAIN_ID_RE},
    )
    return {str(r): norm_resource_id(str(r)) for (r,) in rows}


def load_expected(
    store: Store,
    provider: str,
    period: tuple[dt.datetime, dt.datetime],
    *,
    granularity: str = "month",
    tz: str = "Asia/Shanghai",
    part: VmPart | None = None,
) -> tuple[list[ExpectedCharge], dict[str, VmLifecycle], list[ExpectedCredit]]:
    """Expected charges from the current bill lines, aggregated to the invoice's granularity.

    With ``part``, only the charges and lifecycles of the VMs whose normalised
    id lies in the part's key range (credits are invoice-level: always all).

    Quantities and prices are in the catalog's stated unit (a monthly price
    with ``price_divisor`` hours per month gives quantity = unit-hours /
    divisor), which is how the contract's catalog, and so the invoice, states
    them. Gap hours come from ``unmetered_hours``; the rounding slack allows
    half a fen per summed daily line.
    """
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(tz)
    d0 = period[0].astimezone(zone).date()
    d1 = period[1].astimezone(zone).date()
    slot = "toStartOfMonth(day)" if granularity == "month" else "day"
    params: dict[str, Any] = {"p": provider, "d0": d0, "d1": d1}
    vm_where = part.sql("vm_id", params) if part is not None else ""
    cols = store.columns(
        f"""
        SELECT vm_id, resource, toString({slot}) AS slot,
               -- the slot's bill lines name one owner, or it spans a move (no bureau)
               if(uniqExact(bureau) = 1, any(bureau), '') AS owner,
               any(pool) AS pool, any(unit) AS unit,
               arrayStringConcat(groupUniqArray(tariff_version), ',') AS versions,
               toString(sum(quantity / price_divisor)) AS q, toString(min(unit_price)) AS pmin,
               toString(max(unit_price)) AS pmax, toString(sum(list_amount)) AS lst,
               toString(sum(after_discount)) AS disc, toString(sum(after_cut)) AS cut,
               toString(sum(hours)) AS hours, toUInt32(sum(unmetered_hours)) AS gap,
               toUInt32(count()) AS parts, argMax(adjustments, day) AS adj,
               toUInt32(countIf(adjustments LIKE '%%low_utilization%%')) AS cut_lines,
               toUInt32(max(price_divisor)) AS divisor, toUInt32(min(price_divisor)) AS dmin,
               toString(sum(quantity)) AS qh,
               arrayStringConcat(groupUniqArray(bureau), '\n') AS owners
        FROM bill_lines FINAL
        WHERE provider = %(p)s AND day >= %(d0)s AND day < %(d1)s {vm_where}
          AND (vm_id, day, run_id) IN (
              SELECT vm_id, day, argMax(run_id, version) FROM bill_current
              WHERE day >= %(d0)s AND day < %(d1)s {vm_where} GROUP BY vm_id, day)
        GROUP BY vm_id, resource, slot
        ORDER BY vm_id, resource, slot
        """,
        params,
    )
    vms = load_vms(store, part=part)
    c = {name: _pylist(arr) for name, arr in cols.items()}
    c["bureau"] = c.pop("owner")
    for name in ("resource", "bureau", "pool", "unit", "versions", "adj", "owners"):
        c[name] = _shared(c[name])
    n = len(c["vm_id"])

    def per_value(values: list[Any], fn: Any) -> list[Any]:
        """Apply ``fn`` once per distinct value (most columns repeat heavily)."""
        table = {v: fn(v) for v in set(values)}
        return list(map(table.__getitem__, values))

    def span(slot_day: str) -> tuple[dt.datetime, dt.datetime]:
        start = dt.datetime.combine(dt.date.fromisoformat(slot_day), dt.time(), zone)
        if granularity == "month":
            end = dt.datetime(
                start.year + (start.month == 12), start.month % 12 + 1, 1, tzinfo=zone
            )
        else:
            end = start + dt.timedelta(days=1)
        return start.astimezone(dt.UTC), end.astimezone(dt.UTC)

    spans = per_value(c["slot"], span)
    # unit-hours / divisor in Python (50 digits): the engine's Decimal division truncates
    # 1488 / 720 to 7 places, which would show as 1487.999952 core-hours.
    quantity = [
        rescale(Decimal(qh), Decimal(1), Decimal(int(d))) if d == d0 and d > 1 else Decimal(q)
        for q, qh, d, d0 in zip(c["q"], c["qh"], c["divisor"], c["dmin"], strict=True)
    ]
    list_amount = per_value(c["lst"], Decimal)
    pmin = per_value(c["pmin"], Decimal)
    price = [
        pm if tmin == tmax or not q else la / q
        for pm, tmin, tmax, q, la in zip(
            pmin, c["pmin"], c["pmax"], quantity, list_amount, strict=True
        )
    ]
    adjustments = per_value(
        list(zip(c["adj"], [bool(x) for x in c["cut_lines"]], strict=True)),
        lambda k: _adjustments(k[0], k[1]),
    )
    hours = per_value(c["hours"], Decimal)
    gap = per_value(c["gap"], lambda g: Decimal(int(g)))
    lifecycle = [vms.get(v) for v in c["vm_id"]]
    # Quantities are unit-hours / price_divisor: catalog units (a month when the catalog
    # price is monthly), and labelled so, not as the bill lines' hours.
    unit_hours = per_value(c["divisor"], lambda d: Decimal(max(1, int(d))))
    units = [
        u.replace("-hour", "-month") if h > 1 else u
        for u, h in zip(c["unit"], unit_hours, strict=True)
    ]
    expected = list(
        map(
            ExpectedCharge,
            c["vm_id"],
            c["resource"],
            [sp[0] for sp in spans],
            [sp[1] for sp in spans],
            quantity,
            price,
            list_amount,
            per_value(c["disc"], Decimal),
            per_value(c["cut"], Decimal),
            units,
            adjustments,
            [h - g for h, g in zip(hours, gap, strict=True)],
            gap,
            [
                (q * g / h) if g and h else ZERO
                for q, g, h in zip(quantity, gap, hours, strict=True)
            ],
            [vm.created_at if vm else None for vm in lifecycle],
            [vm.deleted_at if vm else None for vm in lifecycle],
            c["bureau"],
            c["pool"],
            [provider] * n,
            c["versions"],
            per_value(c["parts"], lambda k: Decimal("0.005") * (int(k) - 1)),
            unit_hours,
            per_value(c["owners"], lambda o: tuple(sorted(x for x in o.split("\n") if x))),
        )
    )
    credits = load_credits(store, provider, period, tz=tz) if granularity == "month" else []
    return expected, vms, credits


def load_credits(
    store: Store, provider: str, period: tuple[dt.datetime, dt.datetime], *, tz: str
) -> list[ExpectedCredit]:
    """Invoice-level reductions (volume tiers) of a provider's months in the period."""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(tz)
    d0 = period[0].astimezone(zone).date()
    d1 = period[1].astimezone(zone).date()
    credits = []
    for month, kind, amount, version, details in store.rows(
        "SELECT month, kind, toString(amount), tariff_version, details "
        "FROM statement_lines FINAL WHERE provider = %(p)s AND month >= %(d0)s "
        "AND month < %(d1)s AND amount != 0 ORDER BY month, kind",
        {"p": provider, "d0": d0, "d1": d1},
    ):
        s = dt.datetime.combine(month, dt.time(), zone)
        e = dt.datetime(s.year + (s.month == 12), s.month % 12 + 1, 1, tzinfo=zone)
        credits.append(
            ExpectedCredit(
                kind="volume_tier" if "tier" in kind or "volume" in kind else kind,
                amount=Decimal(amount),
                period_start=s.astimezone(dt.UTC),
                period_end=e.astimezone(dt.UTC),
                provider=provider,
                tariff_version=version,
                detail=details[:500],
            )
        )
    return credits


def _adjustments(adj_json: str, cut_applied: bool) -> tuple[Adjustment, ...]:
    """Contract adjustments of a bill line, as multipliers, from its adjustments JSON."""
    try:
        rules = json.loads(adj_json or "[]")
    except ValueError:
        rules = []
    out = []
    for r in rules if isinstance(rules, list) else []:
        if not isinstance(r, dict):
            continue
        if r.get("rule") == "tender_discount" and "pay" in r:
            out.append(Adjustment("tender_discount", Decimal(str(r["pay"])), "tender_discount"))
        elif r.get("rule") == "low_utilization" and "cut" in r and cut_applied:
            out.append(
                Adjustment(
                    "low_utilization_cut",
                    1 - Decimal(str(r["cut"])),
                    f"low_utilization<{r.get('threshold_pct', '')}%",
                )
            )
    return tuple(out)


def load_vms(store: Store, *, part: VmPart | None = None) -> dict[str, VmLifecycle]:
    """Every VM inventory knows (in ``part``'s key range if given), with creation, deletion
    and owner (empty for a VM that ever changed owner: ownership is over time, and a line
    no bill line explains cannot say whose period it is)."""
    params: dict[str, Any] = {}
    where = "WHERE 1 " + part.sql("vm_id", params) if part is not None else ""
    cols = store.columns(
        f"""
        SELECT vm_id, toUInt32(toUnixTimestamp(min(event_ts))) AS created,
               toUInt32(toUnixTimestamp(maxIf(event_ts, event = 'deleted'))) AS deleted,
               -- a VM that changed owner has no one bureau for an unmatched line
               if(uniqExact(bureau) = 1, any(bureau), '') AS bureau,
               argMax(pool, event_ts) AS pool,
               argMax(provider, event_ts) AS provider,
               argMax(toString(event), event_ts) AS last
        FROM vm_inventory FINAL {where} GROUP BY vm_id
        """,
        params or None,
    )
    out = {}
    for vm_id, created, deleted, bureau, pool, provider, last in zip(
        *(_pylist(cols[c]) for c in ("vm_id", "created", "deleted", "bureau", "pool")),
        _pylist(cols["provider"]),
        _pylist(cols["last"]),
        strict=True,
    ):
        out[vm_id] = VmLifecycle(
            vm_id=vm_id,
            created_at=_utc(created),
            deleted_at=_utc(deleted) if last == "deleted" and deleted else None,
            bureau=bureau,
            pool=pool,
            provider=provider,
        )
    return out


# ---------------------------------------------------------- verification


def save_run(
    store: Store,
    *,
    run_id: str,
    invoice_id: str,
    provider: str,
    started_at: dt.datetime,
    result: VerificationResult,
    settings: dict[str, Any],
    tariff_versions: Iterable[str],
    expected_charges: int,
) -> None:
    """Findings and totals first, the 'done' run row last (the run becomes visible)."""
    fs = result.findings
    if fs:
        cols: dict[str, list[Any]] = {
            "run_id": [run_id] * len(fs),
            "invoice_id": [invoice_id] * len(fs),
            "seq": list(range(1, len(fs) + 1)),
            "kind": [f.kind for f in fs],
            "rule_id": [f.rule_id for f in fs],
            "severity": [f.severity for f in fs],
            "amount_at_stake": [f.amount_at_stake for f in fs],
            "line_numbers": [list(f.line_numbers) for f in fs],
            "resource_id": [f.resource_id for f in fs],
            "resource_type": [f.resource_type for f in fs],
            "period_start": [_epoch(f.period_start) if f.period_start else 0 for f in fs],
            "period_end": [_epoch(f.period_end) if f.period_end else 0 for f in fs],
            "bureau": [f.bureau for f in fs],
            "pool": [f.pool for f in fs],
            "provider": [f.provider for f in fs],
            "evidence": [json.dumps(dict(f.evidence), ensure_ascii=False) for f in fs],
            "message_id": [f.message_id for f in fs],
            "message": [render_finding(f.rule_id, f.evidence, "en", stored_id=f.message_id,
                                       resource_id=f.resource_id,
                                       resource_type=f.resource_type) for f in fs],
        }  # fmt: skip
        if not any(f.line_numbers for f in fs):
            del cols["line_numbers"]  # all empty: no element type for chDB; default is []
        store.insert("verification_findings", cols)
    keys = sorted(result.totals)
    if keys:
        t = [result.totals[k] for k in keys]
        store.insert(
            "verification_totals",
            {
                "run_id": [run_id] * len(keys),
                "invoice_id": [invoice_id] * len(keys),
                "provider": [k[0] for k in keys],
                "pool": [k[1] for k in keys],
                "bureau": [k[2] for k in keys],
                "lines": [x.lines for x in t],
                "findings": [x.findings for x in t],
                "billed": [money(x.billed) for x in t],
                "expected": [money(x.expected) for x in t],
                "over": [money(x.over) for x in t],
                "under": [money(x.under) for x in t],
                "unverified": [money(x.unverified) for x in t],
            },
        )
    versions = sorted(set(tariff_versions))
    run_row: dict[str, list[Any]] = {
        "run_id": [run_id],
        "invoice_id": [invoice_id],
        "provider": [provider],
        "started_at": [_epoch(started_at)],
        "finished_at": [int(time.time())],
        "status": ["done"],
        "settings": [json.dumps(settings, default=str, sort_keys=True)],
        "lines": [result.lines],
        "matched_lines": [result.matched_lines],
        "expected_charges": [expected_charges],
        "findings": [len(fs)],
        "billed_total": [money(result.billed_total)],
        "verified_total": [money(result.verified_total)],
        "over_total": [money(result.over_total)],
        "under_total": [money(result.under_total)],
        "unverified_total": [money(result.unverified_total)],
        "message": [""],
        "version": [time.time_ns()],
    }
    if versions:  # an empty array has no element type for the chDB insert; default is []
        run_row["tariff_versions"] = [versions]
    store.insert("verification_runs", run_row)


def latest_run(store: Store, invoice_id: str) -> dict[str, Any] | None:
    rows = store.dicts(
        """
        SELECT run_id, invoice_id, provider, toUnixTimestamp(started_at) AS started_at,
               toUnixTimestamp(finished_at) AS finished_at, settings, tariff_versions, lines,
               matched_lines, expected_charges, findings, toString(billed_total) AS billed_total,
               toString(verified_total) AS verified_total, toString(over_total) AS over_total,
               toString(under_total) AS under_total,
               toString(unverified_total) AS unverified_total
        FROM verification_runs FINAL
        WHERE invoice_id = %(id)s AND status = 'done'
        ORDER BY finished_at DESC, version DESC LIMIT 1
        """,
        {"id": invoice_id},
    )
    if not rows:
        return None
    r = rows[0]
    for k in ("billed_total", "verified_total", "over_total", "under_total", "unverified_total"):
        r[k] = money(Decimal(r[k]))
    r["started_at"] = _utc(r["started_at"])
    r["finished_at"] = _utc(r["finished_at"])
    return r


def findings(
    store: Store,
    invoice_id: str,
    *,
    bureau: str | None = None,
    kind: str | None = None,
    rule_id: str | None = None,
    severity: str | None = None,
    pool: str | None = None,
    resource_id: str | None = None,
    min_abs_amount: Decimal | None = None,
    run_id: str | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Findings of the latest (or a given) run, in the run's deterministic order."""
    if run_id is None:
        run = latest_run(store, invoice_id)
        if run is None:
            return []
        run_id = run["run_id"]
    where = ["invoice_id = %(id)s", "run_id = %(run)s"]
    params: dict[str, Any] = {"id": invoice_id, "run": run_id}
    for name, value in (
        ("bureau", bureau),
        ("kind", kind),
        ("rule_id", rule_id),
        ("severity", severity),
        ("pool", pool),
        ("resource_id", resource_id),
    ):
        if value is not None:
            where.append(f"{name} = %({name})s")
            params[name] = value
    if min_abs_amount is not None:
        # exact: a Decimal against a Decimal (18.16 compares no Decimal with a Float64); the
        # amounts are in fen, so ">= x" is ">= x rounded up to the fen" (never down across it)
        where.append("abs(amount_at_stake) >= toDecimal64(%(min_amt)s, 2)")
        params["min_amt"] = str(min_abs_amount.quantize(Decimal("0.01"), ROUND_CEILING))
    page = ""
    if limit is not None:
        page = f"LIMIT {int(limit)} OFFSET {int(offset)}"
    rows = store.dicts(
        f"""
        SELECT seq, kind, rule_id, severity, toString(amount_at_stake) AS amount_text,
               line_numbers, resource_id, resource_type,
               toUnixTimestamp(period_start) AS period_start,
               toUnixTimestamp(period_end) AS period_end, bureau, pool, provider, evidence,
               message, message_id
        FROM verification_findings WHERE {" AND ".join(where)}
        ORDER BY seq {page}
        """,
        params,
    )
    for r in rows:  # (aliased apart: chDB 26 reads a WHERE name as the SELECT's alias)
        r["amount_at_stake"] = money(Decimal(r.pop("amount_text")))
        r["line_numbers"] = [int(x) for x in r["line_numbers"]]
        r["period_start"] = _utc(r["period_start"]) if r["period_start"] else None
        r["period_end"] = _utc(r["period_end"]) if r["period_end"] else None
        r["evidence"] = json.loads(r["evidence"]) if r["evidence"] else {}
        r["message_id"] = message_id(r["rule_id"], r["message_id"], r["evidence"])
        r["label"] = rule_label(r["rule_id"], "en")
        r["label_zh"] = rule_label(r["rule_id"], "zh")
    return rows


def _ledger_head(store: Store) -> str:
    from cloudtally.audit.ledger import head_hash

    return head_hash(store)


def summary(store: Store, invoice_id: str, *, bureau: str | None = None) -> dict[str, Any]:
    """Billed, verified, over and under totals; by reason, provider, pool and bureau."""
    inv = get_invoice(store, invoice_id)
    if inv is None:
        raise LookupError(f"no invoice {invoice_id!r}")
    run = latest_run(store, invoice_id)
    out: dict[str, Any] = {
        "invoice_id": invoice_id,
        "provider": inv["provider"],
        "billing_period_start": inv["billing_period_start"],
        "billing_period_end": inv["billing_period_end"],
        "status": inv["status"],
        "bureau": bureau,
        "run_id": run["run_id"] if run else None,
        "verified_at": run["finished_at"] if run else None,
        "ledger_head": _ledger_head(store),
        "currency": inv["currency"],
        "source_currency": inv["source_currency"],
        "exchange_rate": inv["exchange_rate"],
    }
    if run is None:
        out.update(
            billed_total=inv["billed_total"] if bureau is None else None,
            verified_total=None,
            over_total=None,
            under_total=None,
            unverified_total=None,
            by_reason=[],
            by_group=[],
        )
        return out
    where = "invoice_id = %(id)s AND run_id = %(run)s"
    params: dict[str, Any] = {"id": invoice_id, "run": run["run_id"]}
    if bureau is not None:
        where += " AND bureau = %(bureau)s"
        params["bureau"] = bureau
    groups = store.rows(
        f"""
        SELECT provider, pool, bureau, sum(lines), sum(findings), toString(sum(billed)),
               toString(sum(expected)), toString(sum(over)), toString(sum(under)),
               toString(sum(unverified))
        FROM verification_totals WHERE {where}
        GROUP BY provider, pool, bureau ORDER BY provider, pool, bureau
        """,
        params,
    )
    by_group = []
    billed = over = under = unverified = ZERO
    for provider, pool, bur, lines, nf, b, _e, o, u, x in groups:
        b, o, u, x = money(Decimal(b)), money(Decimal(o)), money(Decimal(u)), money(Decimal(x))
        billed, over, under, unverified = billed + b, over + o, under + u, unverified + x
        by_group.append(
            {
                "provider": provider,
                "pool": pool,
                "bureau": bur,
                "lines": int(lines),
                "findings": int(nf),
                "billed": b,
                "verified": b - o - u - x,
                "over": o,
                "under": u,
                "unverified": x,
            }
        )
    reasons = store.rows(
        f"""
        SELECT rule_id, any(kind), any(severity), count(),
               toString(sumIf(amount_at_stake, amount_at_stake > 0)),
               toString(sumIf(amount_at_stake, amount_at_stake < 0))
        FROM verification_findings WHERE {where}
        GROUP BY rule_id ORDER BY rule_id
        """,
        params,
    )
    by_reason = []
    for rid, kind, sev, count, o, u in reasons:
        rule = RULES[rid]
        counted = rule.counted
        by_reason.append(
            {
                "rule_id": rid,
                "kind": kind,
                "severity": sev,
                "label": rule_label(rid, "en"),
                "label_zh": rule_label(rid, "zh"),
                "findings": int(count),
                "over": money(Decimal(o)) if counted == "over_under" else ZERO,
                "under": money(Decimal(u)) if counted == "over_under" else ZERO,
                "unverified": (money(Decimal(o) + Decimal(u)) if counted == "unverified" else ZERO),
            }
        )
    by_reason.sort(key=lambda r: list(RULES).index(r["rule_id"]))
    out.update(
        billed_total=billed,
        verified_total=billed - over - under - unverified,
        over_total=over,
        under_total=under,
        unverified_total=unverified,
        findings=sum(r["findings"] for r in by_reason),
        by_reason=by_reason,
        by_group=by_group,
    )
    return out


def finding_from_row(row: dict[str, Any]) -> Finding:
    """A stored finding back as the core value (exports use the same code for both)."""
    return Finding(
        rule_id=row["rule_id"],
        amount_at_stake=row["amount_at_stake"],
        line_numbers=tuple(row["line_numbers"]),
        resource_id=row["resource_id"],
        resource_type=row["resource_type"],
        period_start=row["period_start"],
        period_end=row["period_end"],
        evidence=row["evidence"],
        message_id=row.get("message_id", "") or row["rule_id"],
        bureau=row["bureau"],
        pool=row["pool"],
        provider=row["provider"],
    )


def bureau_totals(store: Store, bureau: str) -> dict[str, dict[str, Any]]:
    """Per invoice with the bureau's lines: its lines, findings and money in the latest run
    (its VMs metered but not billed on an invoice without its lines are the buyer's)."""
    rows = store.dicts(
        """
        SELECT invoice_id, sum(lines) AS lines, sum(findings) AS findings,
               toString(sum(billed)) AS billed, toString(sum(over)) AS over,
               toString(sum(under)) AS under, toString(sum(unverified)) AS unverified
        FROM verification_totals
        WHERE bureau = %(b)s AND run_id IN (
            SELECT argMax(run_id, version) FROM verification_runs FINAL
            WHERE status = 'done' GROUP BY invoice_id)
        GROUP BY invoice_id
        HAVING lines > 0
        """,
        {"b": bureau},
    )
    return {r["invoice_id"]: r for r in rows}
