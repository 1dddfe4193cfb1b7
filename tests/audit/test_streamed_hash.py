"""The invoice_imported entry hashed chunk by chunk equals the selector's whole-rows hash.

Values a provider's file can hold that the generator never writes: quotes, backslashes,
newlines, control characters, Chinese and emoji text, NULL and trailing-zero decimals,
negative and zero amounts, gaps in line numbers, numbers whose text order is not their
numeric order; on both stores and with chunks of three lines.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest

from cloudtally.audit.streamed import invoice_imported_parts, lexical_chunks
from cloudtally.audit.subjects import invoice_imported
from cloudtally.core.hashchain import content_hash, part_digests, row_count
from cloudtally.core.invoice import InvoiceLine
from cloudtally.invoices import store as inv_store
from cloudtally.store.base import Store


def _walk(chunks: list[list[tuple[int, int]]], lines: set[int]) -> list[int]:
    """The lines in chunk order, each chunk sorted by text (as its query's ORDER BY)."""
    out: list[int] = []
    for ranges in chunks:
        out += sorted((n for lo, hi in ranges for n in range(lo, hi) if n in lines), key=str)
    return out


@pytest.mark.parametrize("max_no", [0, 1, 9, 10, 11, 99, 100, 101, 1234, 20_001])
@pytest.mark.parametrize("target", [1, 3, 50, 10**6])
def test_chunks_walk_the_numbers_in_text_order(max_no: int, target: int) -> None:
    chunks = lexical_chunks(max_no, target)
    walked = _walk(chunks, set(range(max_no + 1)))
    assert walked == sorted(range(max_no + 1), key=str)
    if target >= 100:  # chunks stay near the target: a few, not one per number
        assert len(chunks) <= 2 + 2 * (max_no + 1) // target + 9


def test_chunks_leave_out_numbers_no_line_has() -> None:
    lines = {2, 3, 10, 11, 100, 999, 1000, 12345, 20000}
    chunks = lexical_chunks(20000, 3, lambda lo, hi: sum(lo <= n < hi for n in lines))
    walked = _walk(chunks, lines)
    assert walked == sorted(lines, key=str) and len(chunks) == 4  # 9 lines, 3 a chunk at most


ODD = [
    'a "quoted" name',
    "back\\slash",
    "new\nline",
    "tab\tand\x01control",
    "政务云 主机 🚀",
    "",
    "\u2028\x7f\u00a0",
]
LINE_NOS = [2, 3, 9, 10, 11, 19, 100, 101, 999, 1000, 1001, 12345, 20000]


def _line(no: int, i: int, *, line_no: int | None = None) -> InvoiceLine:
    t0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC) + dt.timedelta(hours=i)
    return InvoiceLine(
        line_no=no if line_no is None else line_no,
        resource_id=f"VM-{i:03d}",
        resource_key=f"vm-{i:03d}",
        resource_type_raw=ODD[i % len(ODD)],
        resource_type="vcpu",
        period_start=t0,
        period_end=t0 + dt.timedelta(days=1),
        quantity=[D("24.000000"), D("0"), D("1.5")][i % 3],
        amount=[D("-12.30"), D("0.00"), D("100")][i % 3],
        unit_price=[None, D("0.50000000"), D("12")][i % 3],
        discount_rate=[D("0.55"), None][i % 2],
        contracted_amount=[None, D("-0.01")][i % 2],
        resource_name=ODD[(i + 1) % len(ODD)],
        description=ODD[(i + 2) % len(ODD)],
        region="华南",
    )


def _compare(store: Store, invoice_id: str, import_id: str) -> None:
    subject = {"invoice_id": invoice_id, "import_id": import_id}
    whole = invoice_imported(store, subject)
    streamed = invoice_imported_parts(store, subject, chunk_lines=3)
    assert content_hash(streamed) == content_hash(whole)
    assert part_digests(streamed) == part_digests(whole)
    assert row_count(streamed) == row_count(whole) == len(whole[0].rows) + len(whole[1].rows)


def test_streamed_hash_equals_the_selectors(store: Store) -> None:
    lines = [_line(no, i) for i, no in enumerate(LINE_NOS)]
    inv_store.insert_lines(store, "inv-odd", "imp-1", lines)
    inv_store.insert_header(
        store,
        {
            "invoice_id": "inv-odd", "import_id": "imp-1", "provider": "provider-a",
            "provider_invoice_no": 'NO-"1"', "source_format": "csv", "file_name": "账单.csv",
            "file_hash": "f" * 64, "file_bytes": 123,
            "billing_period_start": dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
            "billing_period_end": dt.datetime(2024, 2, 1, tzinfo=dt.UTC), "currency": "CNY",
            "source_currency": "", "exchange_rate": "",
            "imported_at": dt.datetime(2024, 2, 2, tzinfo=dt.UTC), "imported_by": "",
            "row_count": len(lines), "billed_total": D("87.70"), "status": "imported",
        },
    )  # fmt: skip
    _compare(store, "inv-odd", "imp-1")
    # An import nobody wrote a header for, and one whose line numbers repeat (the
    # text order of line_no is then not the row order: the selector's way is used).
    _compare(store, "inv-odd", "imp-none")
    inv_store.insert_lines(store, "inv-dup", "imp-2", [_line(7, i, line_no=7) for i in range(4)])
    _compare(store, "inv-dup", "imp-2")
