"""Spreadsheet-like files as rows of text cells: CSV (UTF-8 / GB18030), XLSX, Parquet.

Shared by the ledger import and the provider metric exports. Cells come back as
text the way a person reads them (dates as 2025-03-01 08:00:00, whole floats
without .0), so one validator handles every format.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


class TableError(ValueError):
    """The file cannot be read at all."""


def read_table(
    path: Path, *, sheet: str | None = None, encoding: str = "auto", header_row: int = 1
) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """(header, [(row number in the file, cells)]) of a CSV, XLSX or Parquet file."""
    if not path.is_file():
        raise TableError(f"no such file: {path}")
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        rows = _xlsx(path, sheet)
    elif suffix in (".parquet", ".pq"):
        rows = _parquet(path)
    else:
        rows = _csv(path.read_bytes(), encoding)
    if len(rows) < header_row:
        raise TableError("the file has no header row")
    return rows[header_row - 1], [(i + 1, r) for i, r in enumerate(rows) if i >= header_row]


def _csv(data: bytes, encoding: str) -> list[list[str]]:
    from cloudtally.core.invoice import InvoiceError, detect_encoding

    if not data.strip():
        raise TableError("the file is empty")
    try:
        enc = encoding if encoding != "auto" else detect_encoding(data[:65536])
    except InvoiceError as exc:
        raise TableError(str(exc)) from None
    if enc in ("utf-8", "utf8"):
        enc = "utf-8-sig"
    try:
        text = data.decode(enc)
    except UnicodeDecodeError as exc:
        raise TableError(f"not valid {enc} text at byte {exc.start}") from None
    sample = text[:4096]
    delim = "\t" if sample.count("\t") > sample.count(",") else ","
    try:
        return [list(r) for r in csv.reader(io.StringIO(text, newline=""), delimiter=delim)]
    except csv.Error as exc:
        raise TableError(f"not valid CSV: {exc}") from None


def _xlsx(path: Path, sheet: str | None) -> list[list[str]]:
    import zipfile

    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, InvalidFileException) as exc:
        raise TableError(f"not a readable XLSX workbook: {exc}") from None
    try:
        if sheet and sheet not in wb.sheetnames:
            raise TableError(f"sheet {sheet!r} not found; the workbook has {wb.sheetnames}")
        ws = wb[sheet] if sheet else wb.worksheets[0]
        return [[cell_text(v) for v in row] for row in ws.iter_rows(values_only=True)]
    finally:
        wb.close()


def _parquet(path: Path) -> list[list[str]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise TableError(f"not a readable Parquet file: {exc}") from None
    cols = [table.column(i).to_pylist() for i in range(table.num_columns)]
    return [list(table.column_names)] + [
        [cell_text(c[i]) for c in cols] for i in range(table.num_rows)
    ]


def cell_text(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() else repr(v)
    if isinstance(v, dt.datetime):
        text = v.strftime("%Y-%m-%d %H:%M:%S")
        return text + v.strftime("%z") if v.tzinfo is not None else text
    if isinstance(v, dt.date):
        return v.isoformat()
    return str(v)


def exit_on_bad_file(call: Callable[[], T], *errors: type[Exception]) -> T:
    """CLI: run ``call``; on rejected rows print each (row, column, reason) and exit 2."""
    import typer

    from cloudtally.core.ledger import RowsRejected

    try:
        return call()
    except RowsRejected as exc:
        for problem in exc.problems:
            typer.echo(f"rejected: {problem}", err=True)
        typer.echo(str(exc).split(":")[0] + ".", err=True)
        raise typer.Exit(2) from None
    except errors as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
