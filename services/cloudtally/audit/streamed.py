"""The invoice_imported entry's hash, streamed: a million lines never held as rows.

The selector (:func:`cloudtally.audit.subjects.invoice_imported`) reads every line of an
import as Python rows and sorts their canonical texts: for 1M lines about 3 GB and most
of the import's time. This module computes the same hashes chunk by chunk. A line's
canonical row starts with its ``line_no`` as text, and line numbers are unique within
an import, so the sorted canonical rows are the rows in the text order of their line
numbers; that order is a walk of the decimal-prefix tree, so each chunk is a union of
``line_no`` ranges the table's primary key reads directly, sorted by the engine. Values
are canonicalised a column at a time from their text, each distinct value once.
``audit verify`` still re-reads through the selector, so any difference would show.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from cloudtally.audit.subjects import (
    INVOICE_HEADER_COLUMNS,
    INVOICE_LINE_COLUMNS,
    Subject,
    _part,
    invoice_imported,
)
from cloudtally.core.hashchain import Part, StreamedPart
from cloudtally.store.base import Store

CHUNK_LINES = 20_000  # a chunk's block of text is ~7 MB
_DECIMALS = frozenset(
    {"quantity", "unit_price", "list_amount", "discount_rate", "contracted_unit_price",
     "contracted_amount", "amount"}
)  # fmt: skip
_INSTANTS = frozenset({"period_start", "period_end"})

Ranges = list[tuple[int, int]]  # [lo, hi) of line numbers


def lexical_chunks(
    max_no: int, target: int, count: Callable[[int, int], int] | None = None
) -> list[Ranges]:
    """Line-number ranges, chunk by chunk, in the text order of the numbers 0..max_no.

    Each chunk is contiguous in that order and holds at most about ``target`` lines
    (a single number is never split); ``count(lo, hi)`` says how many lines fall in
    a range (default: every number is a line), so empty ranges are left out.
    """
    how_many = count or (lambda lo, hi: hi - lo)
    chunks: list[Ranges] = []
    current: Ranges = []
    size = 0

    def emit(ranges: Ranges, n: int) -> None:
        nonlocal current, size
        if n == 0:
            return
        if current and size + n > target:
            chunks.append(current)
            current, size = [], 0
        current.extend(r for r in ranges if how_many(*r))
        size += n

    def subtree(prefix: int) -> Ranges:
        """The numbers whose text starts with ``prefix``'s, as ranges."""
        out, lo, hi = [], prefix, prefix + 1
        while lo <= max_no:
            out.append((lo, min(hi, max_no + 1)))
            lo, hi = lo * 10, hi * 10
        return out

    def visit(prefix: int) -> None:
        ranges = subtree(prefix)
        n = sum(how_many(lo, hi) for lo, hi in ranges)
        if n <= target:
            emit(ranges, n)
            return
        emit([(prefix, prefix + 1)], how_many(prefix, prefix + 1))
        for digit in range(10):
            if prefix * 10 + digit <= max_no:
                visit(prefix * 10 + digit)

    emit([(0, 1)], how_many(0, 1))  # "0" sorts before every other number, has no tree below
    for first in range(1, 10):
        if first <= max_no:
            visit(first)
    if current:
        chunks.append(current)
    return chunks


def _texts(values: Any) -> list[str]:
    out: list[Any] = values.tolist()
    if set(map(type, out)) <= {str}:
        return out
    return [v.decode() if isinstance(v, bytes) else ("" if v is None else str(v)) for v in out]


def _texts_or_none(values: Any) -> list[str | None]:
    out: list[Any] = values.tolist()
    return [v.decode() if isinstance(v, bytes) else v for v in out]


def _json(text: str) -> str:
    """``json.dumps(text, ensure_ascii=False)``; directly when it has nothing to escape
    (JSON escapes only quotes, backslashes and control characters, none of them printable)."""
    if text.isprintable() and '"' not in text and "\\" not in text:
        return f'"{text}"'
    return json.dumps(text, ensure_ascii=False)


# ClickHouse 21.9 on writes a Decimal without its fraction's trailing zeros (zero as
# ``0``), in toString too: the canonical text as it is, with no regular expression.
_PLAIN_DECIMALS = (21, 9)


def _engine_json(column: str, plain_decimals: bool = False) -> str | None:
    """SQL for the column's JSON canonical text, where the engine can write it exactly:
    line numbers and epoch seconds are digits (JSON never escapes them), and a decimal's
    canonical text is its plain text without the fraction's trailing zeros (zero as
    ``0``, NULL as ``null``), as :func:`_decimal_text`; ``plain_decimals``: the engine's
    own text is that already. Text columns: None (Python)."""
    if column == "line_no":
        return "concat('\"', toString(line_no), '\"')"
    if column in _INSTANTS:
        return f"concat('\"', toString(toUnixTimestamp({column})), '\"')"
    if column in _DECIMALS:
        t = f"toString({column})"
        canon = (
            t
            if plain_decimals
            else (
                f"if(match({t}, '^-?0(\\\\.0*)?$'), '0', "
                f"if(position({t}, '.') > 0, replaceRegexpOne({t}, '\\\\.?0+$', ''), {t}))"
            )
        )
        return f"ifNull(concat('\"', {canon}, '\"'), '\"null\"')"
    return None


def _segments(
    columns: tuple[str, ...], plain_decimals: bool = False
) -> list[tuple[str, str | None]]:
    """(alias, SQL) per selected value, in the columns' order: each run of columns the
    engine writes becomes one value (their JSON texts joined by commas); a text column
    is selected as it is (SQL None: Python encodes it)."""
    out: list[tuple[str, str | None]] = []
    run: list[str] = []
    for column in (*columns, ""):
        sql = _engine_json(column, plain_decimals) if column else None
        if sql is not None:
            run.append(sql)
            continue
        if run:
            joined = ", ',', ".join(run)
            out.append((f"s_{len(out)}", f"concat({joined})" if len(run) > 1 else run[0]))
            run = []
        if column:
            out.append((f"t_{column}", None))
    return out


_NEEDS_ESCAPE = "'[\\\\x00-\\\\x1f\"\\\\\\\\]'"  # what json.dumps(ensure_ascii=False) escapes


def _row_json(columns: tuple[str, ...], plain_decimals: bool = False) -> str:
    """SQL for a line's whole canonical row, or NULL where a text value needs JSON escapes.

    ``json.dumps(text, ensure_ascii=False)`` is the text in quotes unless it holds a
    quote, a backslash or a control character; the engine writes such rows, and Python
    encodes the chunks that have any other (as before, a column at a time). The texts
    are looked at together, one match a row (not one a column).
    """
    values, texts = [], []
    for alias, sql in _segments(columns, plain_decimals):
        if sql is not None:
            values.append(sql)
        else:
            texts.append(alias[2:])
            values.append(f"concat('\"', {alias[2:]}, '\"')")
    row = "concat('[', " + ", ',', ".join(values) + ", ']')"
    if not texts:
        return row
    text = f"concat({', '.join(texts)})" if len(texts) > 1 else texts[0]
    return f"if(match({text}, {_NEEDS_ESCAPE}), NULL, {row})"


def invoice_imported_parts(
    store: Store, subject: Subject, *, chunk_lines: int = CHUNK_LINES
) -> list[Part]:
    """The parts :func:`invoice_imported` returns, with the lines as a streamed part."""
    params: dict[str, Any] = {"inv": subject["invoice_id"], "imp": subject["import_id"]}
    where = "invoice_id = %(inv)s AND import_id = %(imp)s"
    n, distinct, max_no = store.rows(
        f"SELECT count(), uniqExact(line_no), max(line_no) FROM invoice_lines WHERE {where}",
        params,
    )[0]
    if int(n) != int(distinct):  # not unique: the text order of line_no is not the row order
        return invoice_imported(store, subject)
    header = _part(
        store,
        "invoice",
        INVOICE_HEADER_COLUMNS,
        "FROM invoices FINAL WHERE invoice_id = %(inv)s AND import_id = %(imp)s",
        params,
    )
    # The line numbers alone (4 bytes each) say how many lines each range holds.
    got = store.columns(f"SELECT line_no FROM invoice_lines WHERE {where}", params)["line_no"]
    numbers = np.sort(got.astype(np.int64))  # int64 bounds: no conversion of it per search

    def count(lo: int, hi: int) -> int:
        return int(numbers.searchsorted(np.int64(hi)) - numbers.searchsorted(np.int64(lo)))

    plan = lexical_chunks(int(max_no), chunk_lines, count) if int(n) else []
    plain = store.version >= _PLAIN_DECIMALS
    segments = _segments(INVOICE_LINE_COLUMNS, plain)
    select = ", ".join(
        f"{sql or alias[2:]} AS {alias}" for alias, sql in segments
    )  # an alias must not shadow the WHERE's column

    row_json = _row_json(INVOICE_LINE_COLUMNS, plain)

    def lines() -> Iterator[str]:
        for ranges in plan:
            cond = " OR ".join(f"(line_no >= {lo} AND line_no < {hi})" for lo, hi in ranges)
            rows = _texts_or_none(
                store.columns(
                    f"SELECT {row_json} AS row FROM invoice_lines WHERE {where} AND ({cond}) "
                    "ORDER BY toString(line_no)",
                    params,
                )["row"]
            )
            store.release_memory()  # the engine's copy of the chunk, freed
            if rows and None not in rows:  # the engine wrote every row of the chunk
                yield "\n".join(rows)
                continue
            cols = store.columns(
                f"SELECT {select} FROM invoice_lines WHERE {where} AND ({cond}) "
                "ORDER BY toString(line_no)",
                params,
            )
            encoded: list[Iterator[str]] = []
            for alias, sql in segments:
                values = _texts(cols[alias])
                if sql is not None:  # already JSON text, from the engine
                    encoded.append(iter(values))
                    continue
                table = {v: _json(v) for v in set(values)}
                encoded.append(map(table.__getitem__, values))
            if cols[segments[0][0]].size:  # one block a chunk: its rows joined by newlines
                yield "[" + "]\n[".join(map(",".join, zip(*encoded, strict=True))) + "]"

    return [header, StreamedPart("invoice_lines", INVOICE_LINE_COLUMNS, (), lines=lines, n=int(n))]
