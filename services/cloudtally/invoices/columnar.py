"""A block of invoice rows converted a column at a time in Arrow, or refused to the row parser.

The row parser (:meth:`cloudtally.core.invoice.LineParser.parse_many`) builds one
InvoiceLine per row, and the insert takes each apart again: most of a 1M-line import.
Here a block's cells stay Arrow string columns and every stored value comes one of two
ways, each exactly the row parser's:

* a pattern proves the cell plain (a number like ``136.51``, an id of printable ASCII,
  no whitespace at either end), and for such text the row parser's value is the text;
* otherwise the row parser's own functions (``parse_decimal``, ``money``, the period,
  unit and alias parsers, ``str.strip`` ...) run once per distinct cell text.

Whatever the block holds that the row parser would refuse or treat apart (an empty
required cell, a negative quantity, a blank row, a foreign currency, a value a parser
refuses) makes :func:`convert` return None: the caller then parses the block's rows with
the row parser, so rejects, reasons and line numbers are the row parser's own. Decimals
leave as the exact text the row path sends the store (``store._decimal_text``), so the
engine casts the same text to the same value.
"""

from __future__ import annotations

import collections
import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cloudtally.core.invoice import (
    BASE_CURRENCY,
    LineParser,
    NotPlain,
    cell_amount,
    cell_category,
    cell_optional,
    cell_price,
    cell_quantity,
    cell_rate,
    cell_required_amount,
    currency_code,
    norm_resource_id,
    unfit_for_usage,
)
from cloudtally.invoices.store import _decimal_text, _epoch

# Every character Python's str.strip() removes (str.isspace(); tests/invoices/
# test_columnar.py checks the list against Python's own), as an RE2 class.
PY_SPACES = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
    "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_CLASS = "[" + "".join(f"\\x{{{ord(c):x}}}" for c in PY_SPACES) + "]"
_EDGE_SPACE = f"^{_CLASS}|{_CLASS}$"
# Plain numbers whose row-path text is the cell itself (no leading zeros, no exponent;
# Decimal keeps every digit): money with exactly two decimals and at most 16 integer
# digits (so within MAX_AMOUNT); quantities within MAX_QUANTITY and not zero (the row
# parser writes a zero quantity as 0); prices not negative; rates in [0, 1].
_PLAIN = r"(0|[1-9][0-9]*)(\.[0-9]+)?"
_MONEY = r"^-?(0|[1-9][0-9]{0,15})\.[0-9]{2}$"
_QUANTITY = r"^(0\.[0-9]*[1-9][0-9]*|[1-9][0-9]{0,13}(\.[0-9]+)?)$"
_PRICE = f"^{_PLAIN}$"
_SIGNED = f"^-?{_PLAIN}$"
_RATE = r"^(0(\.[0-9]+)?|1(\.0+)?)$"
_ASCII_ID = "^[!-~]*$"  # printable ASCII, no space: NFKC leaves it, casefold is lower
_NO_DECIMAL: Decimal | None = None


@dataclass
class Chunk:
    """A block's lines as the store's columns, and the figures the import sums."""

    rows: int
    columns: dict[str, pa.Array]
    currencies: collections.Counter[str]
    total: Decimal
    starts: collections.Counter[dt.datetime]
    billing: collections.Counter[tuple[dt.datetime, dt.datetime]]
    invoice_nos: collections.Counter[str]


def convert(parser: LineParser, table: pa.Table, first_row: int) -> Chunk | None:
    """The block's lines (rows numbered from ``first_row``), or None: the row parser decides."""
    if table.num_rows == 0 or table.num_columns != parser.width:
        return None
    try:
        return _Block(parser, table).chunk(first_row)
    except (NotPlain, ArithmeticError, ValueError, pa.ArrowInvalid):
        return None


class _Distinct:
    """A column's distinct values, their count, and each row's index into them."""

    def __init__(self, values: list[Any], index: np.ndarray) -> None:
        self.values = values
        self.index = index

    def counts(self) -> np.ndarray:
        return np.bincount(self.index, minlength=len(self.values))

    def map(self, fn: Callable[[Any], Any], type_: pa.DataType) -> pa.Array:
        out = pa.array([fn(v) for v in self.values], type_)
        return out.take(pa.array(self.index))

    def counter(self, fn: Callable[[Any], Any] = lambda v: v) -> collections.Counter[Any]:
        out: collections.Counter[Any] = collections.Counter()
        for v, c in zip(self.values, self.counts().tolist(), strict=True):
            if c:
                out[fn(v)] += c
        return out


def _distinct(arr: pa.Array) -> _Distinct:
    enc = pc.dictionary_encode(arr)
    return _Distinct(enc.dictionary.to_pylist(), enc.indices.to_numpy(zero_copy_only=False))


def _distinct_tuples(arrays: Sequence[pa.Array]) -> _Distinct:
    """Distinct tuples of several columns (each column's codes combined into one integer)."""
    codes = np.zeros(len(arrays[0]), np.int64)
    parts = []
    size = 1
    for arr in arrays:
        d = _distinct(arr)
        size *= max(1, len(d.values))
        if size > 1 << 62:
            raise NotPlain
        codes = codes * max(1, len(d.values)) + d.index
        parts.append(d)
    unique, inverse = np.unique(codes, return_inverse=True)
    values = []
    for code in unique.tolist():
        key = []
        for d in reversed(parts):
            code, i = divmod(code, max(1, len(d.values)))
            key.append(d.values[i])
        values.append(tuple(reversed(key)))
    return _Distinct(values, inverse.astype(np.int64))


def _any(mask: pa.Array) -> bool:
    return bool(pc.any(mask).as_py())


class _Block:
    def __init__(self, parser: LineParser, table: pa.Table) -> None:
        self.p = parser
        self.n = table.num_rows
        self.cells = [c.combine_chunks() for c in table.columns]
        self._text: dict[str, pa.Array] = {}

    def text(self, name: str) -> pa.Array:
        """The column's cells stripped as the row parser strips them ('' when absent)."""
        hit = self._text.get(name)
        if hit is not None:
            return hit
        i = self.p.pos.get(name)
        if i is None:
            arr = pa.repeat("", self.n)
        else:
            arr = self.cells[i]
            if _any(pc.match_substring_regex(arr, _EDGE_SPACE)):
                arr = _distinct(arr).map(str.strip, pa.string())
        self._text[name] = arr
        return arr

    def decimals(
        self, name: str, plain: str, fn: Callable[[str], Decimal | None]
    ) -> tuple[pa.Array, _Distinct | None]:
        """The row path's text of each value (None for an absent one); ``fn`` is the row
        parser's conversion, run on the cells ``plain`` does not prove their own text."""
        arr = self.text(name)
        if bool(pc.all(pc.match_substring_regex(arr, plain)).as_py()):
            return arr, None
        odd = _distinct(arr)
        regular = pc.match_substring_regex(pa.array(odd.values, pa.string()), plain).to_pylist()
        texts = _decimal_text(
            [None if r else fn(v) for v, r in zip(odd.values, regular, strict=True)]
        )
        texts = [v if r else t for v, r, t in zip(odd.values, regular, texts, strict=True)]
        return pa.array(texts, pa.string()).take(pa.array(odd.index)), odd

    def chunk(self, first_row: int) -> Chunk:
        p, n = self.p, self.n
        cat = _distinct(self.text("charge_category"))
        category = cat.map(cell_category, pa.string())
        usage = pc.equal(category, "usage")
        rid, type_raw = self.text("resource_id"), self.text("resource_type")
        for arr in (rid, type_raw):  # the row parser requires both on a usage line
            if _any(pc.and_(usage, pc.equal(arr, ""))):
                raise NotPlain
        rtype = _distinct(type_raw).map(p.block_type, pa.string())
        columns: dict[str, pa.Array] = {
            "line_no": pa.array(np.arange(first_row, first_row + n, dtype=np.int64)),
        }
        starts = self._periods(columns)
        billing = self._billing()
        columns.update(self._figures(usage))
        currency = _distinct(self.text("currency"))
        currencies = currency.counter(lambda t: currency_code(t or p.mapping.currency))
        if set(currencies) != {BASE_CURRENCY}:
            raise NotPlain  # a conversion (or its refusal) is the row path's
        units = _distinct_tuples([rtype, self.text("unit"), self.text("price_unit")])
        bases = [p.units(*key) for key in units.values]  # ValueError: the row parser says why
        unit_index = pa.array(units.index)
        columns["quantity_per"] = pa.array([b[0] for b in bases], pa.string()).take(unit_index)
        columns["price_per"] = pa.array([b[1] for b in bases], pa.string()).take(unit_index)
        columns.update(
            resource_id=rid,
            resource_key=self._keys(rid),
            resource_name=self.text("resource_name"),
            resource_type_raw=type_raw,
            resource_type=rtype,
            charge_category=category,
            charge_class=_distinct(self.text("charge_class")).map(str.casefold, pa.string()),
            unit=self.text("unit"),
            currency=pa.repeat(BASE_CURRENCY, n),
            pool=self.text("pool"),
            region=self.text("region"),
            sku=self.text("sku"),
            description=self.text("description"),
            bureau=_distinct(self.text("bureau")).map(p.bureau, pa.string()),
        )
        amounts = pc.cast(columns["amount"], pa.decimal128(18, 2))
        total = pc.sum(amounts).as_py() if n else Decimal(0)
        invoice_nos = _distinct(self.text("invoice_no")).counter()
        invoice_nos.pop("", None)
        return Chunk(n, columns, currencies, Decimal(total), starts, billing, invoice_nos)

    def _keys(self, rid: pa.Array) -> pa.Array:
        """resource_key: printable-ASCII ids lower-cased, any other normalised in Python."""
        plain = pc.match_substring_regex(rid, _ASCII_ID)
        lower = pc.ascii_lower(rid)
        if bool(pc.all(plain).as_py()):
            return lower
        return pc.if_else(plain, lower, _distinct(rid).map(norm_resource_id, pa.string()))

    def _periods(self, columns: dict[str, pa.Array]) -> collections.Counter[dt.datetime]:
        keys = _distinct_tuples(
            [self.text("period"), self.text("period_start"), self.text("period_end")]
        )
        spans = [self.p.block_period(k) for k in keys.values]
        index = pa.array(keys.index)
        columns["period_start"] = pa.array([_epoch(s) for s, _ in spans], pa.int64()).take(index)
        columns["period_end"] = pa.array([_epoch(e) for _, e in spans], pa.int64()).take(index)
        starts: collections.Counter[dt.datetime] = collections.Counter()
        for (start, _), count in zip(spans, keys.counts().tolist(), strict=True):
            if count:
                starts[start] += count
        return starts

    def _billing(self) -> collections.Counter[tuple[dt.datetime, dt.datetime]]:
        keys = _distinct_tuples(
            [self.text("billing_period_start"), self.text("billing_period_end")]
        )
        out: collections.Counter[tuple[dt.datetime, dt.datetime]] = collections.Counter()
        for key, count in zip(keys.values, keys.counts().tolist(), strict=True):
            start, end = self.p.block_billing(key)
            if count and start is not None and end is not None:
                out[(start, end)] += count
        return out

    def _figures(self, usage: pa.Array) -> dict[str, pa.Array]:
        """Quantities, prices, amounts and the rate, as the row parser checks them."""
        quantity, odd = self.decimals("quantity", _QUANTITY, cell_quantity)
        if odd is not None:  # empty or negative: only on lines that are not usage
            bad = [unfit_for_usage(t) for t in odd.values]
            mask = pa.array(bad, pa.bool_()).take(pa.array(odd.index))
            if _any(pc.and_(usage, mask)):
                raise NotPlain

        return {
            "quantity": quantity,
            "unit_price": self.decimals("unit_price", _PRICE, cell_price)[0],
            "list_amount": self.decimals("list_amount", _MONEY, cell_amount)[0],
            "discount_rate": self.decimals("discount_rate", _RATE, cell_rate)[0],
            "contracted_unit_price": self.decimals("contracted_unit_price", _SIGNED, cell_optional)[
                0
            ],
            "contracted_amount": self.decimals("contracted_amount", _MONEY, cell_amount)[0],
            "amount": self.decimals("amount", _MONEY, cell_required_amount)[0],
        }
