"""The import's readers of data rows: row by row, or a block at a time in columns.

:func:`read_rows` parses numbered rows with the row parser, in chunks. :func:`read_blocks`
reads a CSV in blocks (:mod:`cloudtally.invoices.csv_blocks`) and converts each in
Arrow (:mod:`cloudtally.invoices.columnar`); a block the columnar path does not take
goes, whole, through :func:`read_rows`, so its rejects, reasons and line numbers are the
row parser's. :func:`read_records` does the same for rows already split (XLSX, or a CSV
from its first quoted block on). Where only the row reader's own pass over the whole
file says exactly what is wrong with it (a bad byte, a row past the row or cell limits),
the block reader raises :class:`NeedRowReader` and the import starts again with it.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable, Iterable, Iterator, Sequence

import pyarrow as pa

from cloudtally.core.invoice import InvoiceError, LineParser
from cloudtally.invoices.columnar import convert
from cloudtally.invoices.csv_blocks import Block, CsvBlocks
from cloudtally.invoices.tally import ImportTally
from cloudtally.invoices.upload_bounds import UploadBounds

Progress = Callable[[int, int], None]  # (rows parsed, bytes read)
Numbered = tuple[int, Sequence[str]]


class NeedRowReader(Exception):
    """Only the row reader, over the whole file, says exactly what is wrong with it."""


def too_many_rows(max_rows: int) -> InvoiceError:
    return InvoiceError(
        f"more than {max_rows:,} rows (CLOUDTALLY_INVOICE_MAX_ROWS); "
        "split the invoice or raise the limit",
        "too_many_rows",
        limit=f"{max_rows:,}",
    )


def read_rows(
    rows: Iterable[Numbered],
    parser: LineParser,
    tally: ImportTally,
    *,
    max_rows: int,
    chunk_rows: int,
    progress: Progress | None = None,
    bytes_read: Callable[[], int] = lambda: 0,
    too_many: Callable[[], Exception] | None = None,
) -> None:
    """Parse the rows chunk by chunk into the tally; blank rows are skipped (not counted)."""
    blank = parser.is_blank
    batch: list[Numbered] = []
    last_progress = time.monotonic()
    for row_no, row in rows:
        first = row[0] if row else ""
        if not (first and not first.isspace()) and blank(row):  # a data row: first cell
            continue
        tally.n += 1
        if tally.n > max_rows:
            raise (too_many or (lambda: too_many_rows(max_rows)))()
        batch.append((row_no, row))
        if len(batch) >= chunk_rows:
            tally.add_lines(*parser.parse_many(batch))
            batch.clear()
            if progress:  # at least once a chunk, so a long file always shows progress
                progress(tally.n, bytes_read())
                last_progress = time.monotonic()
        if progress and time.monotonic() - last_progress > 0.5:
            progress(tally.n, bytes_read())
            last_progress = time.monotonic()
    if batch:
        tally.add_lines(*parser.parse_many(batch))


def _need_row_reader() -> Exception:
    return NeedRowReader()


def _take(
    table: pa.Table | None,
    rows: Callable[[], list[Numbered]],
    first_row: int,
    parser: LineParser,
    tally: ImportTally,
    max_rows: int,
    chunk_rows: int,
    too_many: Callable[[], Exception] | None,
) -> None:
    """One block: as a columnar chunk when it converts, else its rows through the row parser."""
    chunk = convert(parser, table, first_row) if table is not None else None
    if chunk is None:
        read_rows(rows(), parser, tally, max_rows=max_rows, chunk_rows=chunk_rows,
                  too_many=too_many)  # fmt: skip
        return
    tally.n += chunk.rows  # every row of a chunk is a data row (its amount is not empty)
    if tally.n > max_rows:
        raise (too_many or (lambda: too_many_rows(max_rows)))()
    tally.add_chunk(chunk)


def read_blocks(
    blocks: CsvBlocks,
    parser: LineParser,
    tally: ImportTally,
    *,
    max_rows: int,
    chunk_rows: int,
    progress: Progress | None = None,
) -> None:
    """A CSV's data rows, block by block; from the first block that is not plain on, its
    records as Python's csv reader splits them (:func:`read_records`)."""
    bounds = UploadBounds()
    cells = len(blocks.header)
    for block in blocks:
        if not block.plain:
            read_records(_rest(blocks, block, bounds, cells), parser, tally,
                         max_rows=max_rows, chunk_rows=chunk_rows, progress=progress,
                         too_many=_need_row_reader)  # fmt: skip
            return
        table = blocks.table(block, parser.width)
        if table is not None and table.num_rows != block.lines:
            table = None
        rows = _block_rows(blocks, block, bounds)
        cells += block.lines * parser.width if table is not None else sum(len(r) for r in rows())
        if cells > bounds.max_cells:
            raise NeedRowReader
        _take(table, lambda rows=rows, block=block: list(enumerate(rows(), block.first_row)),
              block.first_row, parser, tally, max_rows, chunk_rows, _need_row_reader)  # fmt: skip
        if progress:
            progress(tally.n, block.end)


def _block_rows(
    blocks: CsvBlocks, block: Block, bounds: UploadBounds
) -> Callable[[], list[Sequence[str]]]:
    """The block's records, read when first asked for (a bad byte: the row reader's)."""
    got: list[list[Sequence[str]]] = []

    def rows() -> list[Sequence[str]]:
        if not got:
            try:
                records = blocks.block_rows(block)
            except UnicodeDecodeError:
                raise NeedRowReader from None
            if len(records) != block.lines or any(len(r) > bounds.max_columns for r in records):
                raise NeedRowReader
            got.append(records)
        return got[0]

    return rows


def _rest(blocks: CsvBlocks, block: Block, bounds: UploadBounds, cells: int) -> Iterator[Numbered]:
    """The records from ``block`` on, numbered; what the row reader would refuse at a
    row (a bad byte, bad CSV, a row or file past the bounds) is left to it."""
    try:
        for row_no, row in enumerate(blocks.rows_from(block), block.first_row):
            cells += len(row)
            if len(row) > bounds.max_columns or cells > bounds.max_cells:
                raise NeedRowReader
            yield row_no, row
    except (UnicodeDecodeError, csv.Error):
        raise NeedRowReader from None


def read_records(
    records: Iterable[Numbered],
    parser: LineParser,
    tally: ImportTally,
    *,
    max_rows: int,
    chunk_rows: int,
    progress: Progress | None = None,
    too_many: Callable[[], Exception] | None = None,
) -> None:
    """Numbered records (consecutive numbers) in batches: each converted in columns when
    every row has the header's width and the conversion takes it, else row by row."""
    batch: list[Numbered] = []

    def take() -> None:
        rows = list(batch)
        _take(_table(rows, parser.width), lambda: rows, rows[0][0], parser, tally,
              max_rows, chunk_rows, too_many)  # fmt: skip
        batch.clear()
        if progress:
            progress(tally.n, 0)

    for record in records:
        batch.append(record)
        if len(batch) >= chunk_rows:
            take()
    if batch:
        take()


def _table(rows: list[Numbered], width: int) -> pa.Table | None:
    if any(len(r) != width for _, r in rows):
        return None
    columns = list(zip(*(r for _, r in rows), strict=True))
    return pa.table({f"c{i}": pa.array(c, pa.string()) for i, c in enumerate(columns)})
