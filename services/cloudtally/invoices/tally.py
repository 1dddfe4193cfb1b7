"""What an import has read so far, whichever reader read it, and the inserts while it is valid.

The row reader adds parsed lines, the columnar reader adds whole chunks (Arrow columns
and their sums); both count, sum and insert the same way. The first bad row stops the
inserts (parsing goes on, so every bad row is reported), as does a second currency or
one without an exchange rate (refused at the end, with the reason). The store works
(without the GIL) while the next chunk is read: one insert in flight at most, and any
insert error surfaces at the next chunk or at the end.
"""

from __future__ import annotations

import collections
import concurrent.futures
import datetime as dt
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from cloudtally.core.invoice import BASE_CURRENCY, InvoiceLine, RowError, convert_currency
from cloudtally.invoices import store as inv_store
from cloudtally.invoices.columnar import Chunk
from cloudtally.store.base import Store


class ImportTally:
    def __init__(
        self,
        store: Store,
        invoice_id: str,
        import_id: str,
        *,
        max_errors: int,
        exchange_rate: Decimal | None,
    ) -> None:
        self.store, self.invoice_id, self.import_id = store, invoice_id, import_id
        self.max_errors = max_errors
        self.exchange_rate = exchange_rate
        self.errors: list[RowError] = []
        self.error_count = 0
        self.n = 0  # data rows read (blank rows are not counted)
        self.inserted = False
        self.total = Decimal(0)
        self.starts: collections.Counter[dt.datetime] = collections.Counter()
        self.billing: collections.Counter[tuple[dt.datetime, dt.datetime]] = collections.Counter()
        self.invoice_nos: collections.Counter[str] = collections.Counter()
        self.currencies: collections.Counter[str] = collections.Counter()
        self.columnar_rows = 0  # of n, read by the columnar reader
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="invoice-insert")
        self._pending: list[concurrent.futures.Future[int]] = []

    def add_lines(self, lines: list[InvoiceLine], bad: Sequence[RowError]) -> None:
        """A parsed batch: its errors, or (while the file is valid) its lines."""
        if bad:
            self.error_count += len(bad)
            self.errors.extend(bad[: max(0, self.max_errors - len(self.errors))])
        if self.error_count:
            return
        self.currencies.update(ln.currency for ln in lines)
        foreign = self._foreign()
        if foreign is None:
            return
        if foreign:
            assert self.exchange_rate is not None
            lines = convert_currency(lines, foreign, self.exchange_rate)
        self.total = sum((ln.amount for ln in lines), self.total)
        self.starts.update(ln.period_start for ln in lines)
        self.billing.update(
            (ln.billing_period_start, ln.billing_period_end)
            for ln in lines
            if ln.billing_period_start and ln.billing_period_end
        )
        self.invoice_nos.update(ln.invoice_no for ln in lines if ln.invoice_no)
        self._submit(inv_store.insert_lines, lines)

    def add_chunk(self, chunk: Chunk) -> None:
        """A chunk the columnar reader took whole (its lines are valid and in CNY; the
        caller has counted its rows in ``n``)."""
        self.columnar_rows += chunk.rows
        if self.error_count:
            return
        self.currencies.update(chunk.currencies)
        if self._foreign() is None:
            return
        self.total += chunk.total
        self.starts.update(chunk.starts)
        self.billing.update(chunk.billing)
        self.invoice_nos.update(chunk.invoice_nos)
        self._submit(inv_store.insert_columns, chunk.columns)

    def _foreign(self) -> str | None:
        """The one foreign currency to convert ('' for none), or None: insert no more."""
        foreign = sorted(set(self.currencies) - {BASE_CURRENCY})
        if not foreign:
            return ""
        if self.exchange_rate is None or len(foreign) > 1:
            return None
        return foreign[0]

    def _submit(self, insert: Callable[..., int], rows: Any) -> None:
        if self._pending:
            self._pending.pop().result()
        self.inserted = True
        self._pending.append(self._pool.submit(self._insert, insert, rows))

    def _insert(self, insert: Callable[..., int], rows: Any) -> int:
        """One chunk's insert; what the engine freed doing it goes back at once (a 1M-line
        import's peak is otherwise the inserts' freed pages as much as their data)."""
        n = insert(self.store, self.invoice_id, self.import_id, rows)
        self.store.release_memory()
        return n

    def finish(self) -> None:
        """Wait for the last insert (its error, if any, is raised here)."""
        if self._pending:
            self._pending.pop().result()

    def abort(self) -> None:
        """Let an insert in flight finish, then delete whatever this import inserted."""
        for f in self._pending:
            concurrent.futures.wait([f])
        self._pending.clear()
        if self.inserted:
            inv_store.discard_import(self.store, self.import_id)
            self.inserted = False

    def close(self) -> None:
        self._pool.shutdown(wait=True)
