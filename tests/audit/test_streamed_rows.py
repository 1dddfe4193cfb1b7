"""The engine writes a chunk's canonical rows itself when no value needs a JSON escape.

``tests/audit/test_streamed_hash.py`` puts a quote, a backslash or a control character
in every chunk, so Python encodes them all; here most chunks hold only values JSON
leaves as they are (Chinese, emoji, U+2028, DEL, NBSP, empty text, NULL, zero,
negative, trailing-zero and largest decimals: a modern engine writes them as its own text,
18.16 through regular expressions), and one holds a quote among them: the hash must
still equal the selector's, on both stores, and both ways must have been used.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal as D
from typing import Any

from cloudtally.audit.streamed import invoice_imported_parts
from cloudtally.audit.subjects import invoice_imported
from cloudtally.core.hashchain import content_hash, part_digests
from cloudtally.core.invoice import InvoiceLine
from cloudtally.invoices import store as inv_store
from cloudtally.store.base import Store
from tests.audit.test_streamed_hash import _line as odd_line

PLAIN = ["政务云 主机 🚀", "", "\u2028\x7f\u00a0", "vm-001", "a,b;c", "单引号'"]
DECIMALS = [D("24.000000"), D("0"), D("-0.50"), D("100"), D("0.00000001"), D("-12.30"),
            D("1200.500000"), D("-1000"), D("99999999999999.999999")]  # fmt: skip


def _line(no: int, i: int, description: str) -> InvoiceLine:
    """The other test's line with only plain values (and the given description)."""
    return dataclasses.replace(
        odd_line(no, i),
        resource_type_raw=PLAIN[i % len(PLAIN)],
        quantity=DECIMALS[i % len(DECIMALS)],
        amount=DECIMALS[(i + 1) % len(DECIMALS)].quantize(D("0.01")),
        contracted_amount=[None, D("-0.01"), D("0.00")][i % 3],
        resource_name=PLAIN[(i + 1) % len(PLAIN)],
        description=description,
    )


def test_engine_rows_equal_the_selectors(store: Store) -> None:
    numbers = [1, 2, 3, 9, 10, 11, 19, 100, 101, 999, 1000, 1001]
    lines = [
        _line(no, i, 'a "quoted" one' if no == 100 else PLAIN[(i + 2) % len(PLAIN)])
        for i, no in enumerate(numbers)
    ]
    inv_store.insert_lines(store, "inv-plain", "imp-1", lines)
    subject = {"invoice_id": "inv-plain", "import_id": "imp-1"}
    queries: list[str] = []
    columns = store.columns

    def seen(sql: str, params: Any = None) -> Any:
        queries.append(sql)
        return columns(sql, params)

    store.columns = seen  # type: ignore[method-assign]
    try:
        streamed = invoice_imported_parts(store, subject, chunk_lines=3)
        assert content_hash(streamed) == content_hash(invoice_imported(store, subject))
        assert part_digests(streamed) == part_digests(invoice_imported(store, subject))
    finally:
        store.columns = columns  # type: ignore[method-assign]
    row_queries = [q for q in queries if " AS row " in q]
    python_queries = [q for q in queries if " AS s_0" in q]
    assert row_queries and python_queries  # the quoted chunk alone went through Python
    assert len(python_queries) < len(row_queries)
    # chDB writes a decimal's canonical text itself; 18.16 needs the regular expressions
    regex = ["replaceRegexpOne" in q for q in row_queries]
    assert not any(regex) if store.version >= (21, 9) else all(regex)
