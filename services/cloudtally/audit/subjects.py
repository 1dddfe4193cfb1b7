"""What each kind of ledger entry fixes: one selector per kind, reading the rows back.

A selector takes the entry's ``subject`` (plain data stored with the entry) and returns
the :class:`~cloudtally.core.hashchain.Part` s whose canonical hash the entry holds. The same
selector runs when the entry is written and when ``audit verify`` re-reads the store, so
an entry verifies exactly when its rows are as they were. Columns are named explicitly:
a column a later migration adds does not change old hashes.

Add a kind by adding one selector and registering it in ``SELECTORS``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import Any

from cloudtally.core.hashchain import Part, canonical_row
from cloudtally.store import Store

Subject = Mapping[str, Any]
Selector = Callable[[Store, Subject], list[Part]]

BILL_LINE_COLUMNS = (
    "vm_id", "day", "bureau", "system", "pool", "provider", "resource", "tariff_version",
    "quantity", "unit", "unit_price", "price_divisor", "list_amount", "after_discount",
    "after_cut", "adjustments", "hours", "unmetered_hours", "run_id",
)  # fmt: skip
STATEMENT_LINE_COLUMNS = (
    "provider", "kind", "tariff_version", "basis", "mode", "basis_value", "fee", "amount",
    "details", "run_id",
)  # fmt: skip
ISSUED_MONTH_COLUMNS = (
    "month", "revision", "kind", "reason", "reference", "actor", "at", "lines_total",
    "adjustments_total", "total",
)  # fmt: skip
RESTATEMENT_COLUMNS = (
    "entry", "vm_id", "day", "bureau", "system", "pool", "provider", "resource",
    "tariff_version", "quantity", "list_amount", "after_discount", "after_cut", "run_id",
)  # fmt: skip
INVOICE_HEADER_COLUMNS = (
    "invoice_id", "import_id", "provider", "provider_invoice_no", "source_format", "file_name",
    "file_hash", "file_bytes", "billing_period_start", "billing_period_end", "currency",
    "imported_by", "row_count", "billed_total",
)  # fmt: skip
INVOICE_LINE_COLUMNS = (
    "line_no", "resource_id", "resource_key", "resource_name", "resource_type_raw",
    "resource_type", "charge_category", "charge_class", "period_start", "period_end",
    "quantity", "unit", "unit_price", "list_amount", "discount_rate", "contracted_unit_price",
    "contracted_amount", "amount", "currency", "pool", "region", "sku", "description",
)  # fmt: skip
RUN_COLUMNS = (
    "run_id", "kind", "period_from", "period_to", "tariff_versions", "vm_scope", "reason",
    "actor", "policy_name", "line_count", "total", "previous_total",
)  # fmt: skip


def _part(store: Store, name: str, columns: tuple[str, ...], sql: str, params: Any) -> Part:
    rows = store.rows(f"SELECT {', '.join(columns)} {sql}", params)
    return Part(name, columns, tuple(tuple(r) for r in rows))


def issued_bill_lines(store: Store, month: Any, revision: int, bureau: str | None = None) -> Part:
    """The bill lines an issued revision of a month consists of (optionally one bureau's)."""
    params: dict[str, Any] = {"m": month, "r": int(revision)}
    scope = ""
    if bureau is not None:
        params["b"] = bureau
        scope = "AND bureau = %(b)s"
    return _part(
        store,
        "bill_lines",
        BILL_LINE_COLUMNS,
        f"""FROM bill_lines FINAL
        WHERE month = %(m)s {scope} AND (vm_id, day, run_id) IN (
            SELECT vm_id, day, run_id FROM issued_lines
            WHERE month = %(m)s AND revision = %(r)s)""",
        params,
    )


def bureau_digests(lines: Part, name: str = "bureau_digests") -> Part:
    """Per bureau: line count and SHA-256 of its canonical lines (what a bureau's pack proves).

    The month's entry hashes these digests rather than every line directly, so an evidence
    pack for one bureau can prove its lines belong to the issued month without carrying
    the other bureaus' lines.
    """
    by_bureau: dict[str, list[str]] = {}
    b = lines.columns.index("bureau")
    for row in lines.rows:
        by_bureau.setdefault(str(row[b]), []).append(canonical_row(row))
    rows = []
    for bureau, texts in sorted(by_bureau.items()):
        digest = hashlib.sha256(("\n".join(sorted(texts)) + "\n").encode("utf-8")).hexdigest()
        rows.append((bureau, len(texts), digest))
    return Part(name, ("bureau", "lines", "sha256"), tuple(rows))


def month_issued(store: Store, subject: Subject, lines: Part | None = None) -> list[Part]:
    """A month closed (revision 0) or restated (revision n): its lines, tiers and totals.

    ``lines``: the revision's bill lines when the caller holds them (it just issued them).
    """
    m, r = subject["month"], int(subject["revision"])
    params = {"m": m, "r": r}
    return [
        bureau_digests(lines if lines is not None else issued_bill_lines(store, m, r)),
        _part(
            store,
            "statement_lines",
            STATEMENT_LINE_COLUMNS,
            "FROM issued_statement_lines WHERE month = %(m)s AND revision = %(r)s",
            params,
        ),
        _part(
            store,
            "issued_month",
            ISSUED_MONTH_COLUMNS,
            "FROM issued_months WHERE month = %(m)s AND revision = %(r)s",
            params,
        ),
        bureau_digests(
            _part(
                store,
                "restatement_lines",
                RESTATEMENT_COLUMNS,
                "FROM restatement_lines WHERE month = %(m)s AND revision = %(r)s",
                params,
            ),
            "restatement_digests",
        ),
    ]


def policy_activated(store: Store, subject: Subject) -> list[Part]:
    """The policy document as it was activated (its bytes' SHA-256 is in the subject)."""
    rows = store.rows(
        "SELECT sha256, name, content FROM policy_documents WHERE sha256 = %(h)s LIMIT 1",
        {"h": subject["sha256"]},
    )
    body = tuple(
        (h, name, hashlib.sha256(content.encode("utf-8")).hexdigest()) for h, name, content in rows
    )
    return [Part("policy_document", ("sha256", "name", "content_sha256"), body)]


def rating_run(store: Store, subject: Subject) -> list[Part]:
    """A re-rate with its reason: every line it wrote and its run record."""
    params = {"run": subject["run_id"]}
    return [
        _part(
            store,
            "bill_lines",
            BILL_LINE_COLUMNS,
            "FROM bill_lines FINAL WHERE run_id = %(run)s",
            params,
        ),
        _part(store, "rating_run", RUN_COLUMNS, "FROM rating_runs WHERE run_id = %(run)s", params),
    ]


def invoice_imported(store: Store, subject: Subject) -> list[Part]:
    """A provider invoice as imported: its header (but status) and every line."""
    params = {"inv": subject["invoice_id"], "imp": subject["import_id"]}
    return [
        _part(
            store,
            "invoice",
            INVOICE_HEADER_COLUMNS,
            "FROM invoices FINAL WHERE invoice_id = %(inv)s AND import_id = %(imp)s",
            params,
        ),
        _part(
            store,
            "invoice_lines",
            INVOICE_LINE_COLUMNS,
            "FROM invoice_lines WHERE invoice_id = %(inv)s AND import_id = %(imp)s",
            params,
        ),
    ]


def _columns_of(store: Store, table: str) -> tuple[str, ...]:
    rows = store.rows(
        "SELECT name FROM system.columns WHERE database = currentDatabase() AND table = %(t)s"
        " ORDER BY name",
        {"t": table},
    )
    return tuple(r[0] for r in rows if r[0] != "version")


def verification_run(store: Store, subject: Subject) -> list[Part]:
    """A verification run's findings and totals (what the buyer sends back to a provider)."""
    params = {"inv": subject["invoice_id"], "run": subject["run_id"]}
    parts = []
    for table in ("verification_findings", "verification_totals"):
        cols = tuple(subject.get("columns", {}).get(table) or _columns_of(store, table))
        parts.append(
            _part(
                store,
                table,
                cols,
                f"FROM {table} WHERE invoice_id = %(inv)s AND run_id = %(run)s",
                params,
            )
        )
    return parts


# Tables whose rows a generic ``rows`` entry may fix (e.g. rightsizing-round decisions).
GENERIC_TABLES = frozenset(
    {"round_decisions", "rightsizing_rounds", "rightsizing_decisions", "scorecard_entries"}
)


def table_rows(store: Store, subject: Subject) -> list[Part]:
    """Rows of one table selected by equality on named columns, with the columns named."""
    table = subject["table"]
    if table not in GENERIC_TABLES:
        raise ValueError(f"ledger: table {table!r} is not one a generic entry may fix")
    where = dict(subject["where"])
    cols = tuple(subject["columns"])
    for name in (*where, *cols):
        if not name.replace("_", "").isalnum():
            raise ValueError(f"ledger: bad column name {name!r}")
    cond = " AND ".join(f"{k} = %({k})s" for k in where) or "1"
    return [_part(store, table, cols, f"FROM {table} WHERE {cond}", where)]


RETENTION_COLUMNS = (
    "drop_id", "dropped_at", "table_name", "partition", "month", "rows", "bytes",
    "keep_months", "kept_from", "actor", "reason",
)  # fmt: skip


def raw_retention(store: Store, subject: Subject) -> list[Part]:
    """The record of one month of raw partitions dropped (cloudtally.store.retention)."""
    return [
        _part(store, "raw_retention_log", RETENTION_COLUMNS,
              "FROM raw_retention_log WHERE drop_id = %(d)s ORDER BY table_name",
              {"d": subject["drop_id"]})
    ]  # fmt: skip


SELECTORS: dict[str, Selector] = {
    "month_closed": month_issued,
    "restatement": month_issued,
    "policy_activated": policy_activated,
    "rerate": rating_run,
    "invoice_imported": invoice_imported,
    "verification_run": verification_run,
    "rows": table_rows,
    "raw_retention": raw_retention,
}
