"""Bounds on what an upload may expand to, checked before any parser sees it.

An XLSX workbook is a zip archive: a 1 MB file can declare a 1 GB shared-strings
part, which openpyxl holds in memory whole (in embedded mode the worker that
parses it is also the API and the ingest). Before ``load_workbook`` the zip's
central directory is read (Python's zipfile never inflates a member past the
size it declares, so the declared sizes are the bound) and the file is refused
when:

* the parts together would inflate past ``CLOUDTALLY_INVOICE_MAX_UNCOMPRESSED_BYTES``
  (default 1 GiB);
* the shared strings (kept in memory whole) exceed
  ``CLOUDTALLY_INVOICE_MAX_SHARED_STRINGS_BYTES`` (default 128 MiB);
* a part larger than 1 MiB inflates more than ``MAX_RATIO`` (200) times: real
  sheets compress 5–30×, bombs 1000× and more;
* the sheet has more than ``CLOUDTALLY_INVOICE_MAX_COLUMNS`` columns (default
  1024; openpyxl pads every row to the declared width).

While rows are read, every upload (CSV or XLSX) is bounded to
``CLOUDTALLY_INVOICE_MAX_CELLS`` cells (default 200 million) and a row to the
column bound. Each refusal is an :class:`InvoiceError` naming the bound and
the variable that sets it; nothing is imported.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cloudtally.core.invoice import InvoiceError

MAX_RATIO = 200
RATIO_FLOOR = 1 << 20  # parts smaller than this may compress as well as they like
MiB = 1 << 20


def _env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


@dataclass(frozen=True)
class UploadBounds:
    max_uncompressed: int = field(
        default_factory=lambda: _env_int("CLOUDTALLY_INVOICE_MAX_UNCOMPRESSED_BYTES", 1 << 30)
    )
    max_shared_strings: int = field(
        default_factory=lambda: _env_int("CLOUDTALLY_INVOICE_MAX_SHARED_STRINGS_BYTES", 128 * MiB)
    )
    max_cells: int = field(
        default_factory=lambda: _env_int("CLOUDTALLY_INVOICE_MAX_CELLS", 200_000_000)
    )
    max_columns: int = field(
        default_factory=lambda: _env_int("CLOUDTALLY_INVOICE_MAX_COLUMNS", 1024)
    )


def _mib(n: int) -> str:
    return f"{n / MiB:,.1f} MiB"


def check_xlsx_archive(path: Path, bounds: UploadBounds | None = None) -> None:
    """Refuse a workbook whose parts would inflate past the bounds (before parsing)."""
    b = bounds or UploadBounds()
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise InvoiceError(f"not a readable XLSX workbook: {exc}", "not_xlsx", error=exc) from None
    total = sum(i.file_size for i in infos)
    if total > b.max_uncompressed:
        raise InvoiceError(
            f"the workbook would inflate to {_mib(total)} (from {_mib(path.stat().st_size)}), "
            f"more than the {_mib(b.max_uncompressed)} allowed "
            "(CLOUDTALLY_INVOICE_MAX_UNCOMPRESSED_BYTES); refused before parsing",
            "xlsx_inflates",
            size=_mib(total),
            compressed=_mib(path.stat().st_size),
            limit=_mib(b.max_uncompressed),
        )
    for i in infos:
        if i.filename.lower().endswith("sharedstrings.xml") and i.file_size > b.max_shared_strings:
            raise InvoiceError(
                f"the workbook's shared strings ({i.filename}) inflate to {_mib(i.file_size)}, "
                f"more than the {_mib(b.max_shared_strings)} allowed "
                "(CLOUDTALLY_INVOICE_MAX_SHARED_STRINGS_BYTES); refused before parsing",
                "xlsx_shared_strings",
                part=i.filename,
                size=_mib(i.file_size),
                limit=_mib(b.max_shared_strings),
            )
        ratio = i.file_size / max(1, i.compress_size)
        if i.file_size > RATIO_FLOOR and ratio > MAX_RATIO:
            raise InvoiceError(
                f"the workbook part {i.filename} inflates {ratio:,.0f} times "
                f"({_mib(i.compress_size)} → {_mib(i.file_size)}; real sheets stay under "
                f"{MAX_RATIO}×): a decompression bomb, refused before parsing",
                "xlsx_bomb",
                part=i.filename,
                ratio=f"{ratio:,.0f}",
                compressed=_mib(i.compress_size),
                size=_mib(i.file_size),
                max_ratio=MAX_RATIO,
            )


def check_sheet_width(max_column: int | None, bounds: UploadBounds | None = None) -> None:
    b = bounds or UploadBounds()
    if max_column is not None and max_column > b.max_columns:
        raise InvoiceError(
            f"the sheet declares {max_column:,} columns, more than the {b.max_columns:,} "
            "allowed (CLOUDTALLY_INVOICE_MAX_COLUMNS)",
            "sheet_too_wide",
            columns=f"{max_column:,}",
            limit=f"{b.max_columns:,}",
        )


def bounded_cells(
    rows: Iterable[Sequence[Any]], bounds: UploadBounds | None = None
) -> Iterator[Sequence[Any]]:
    """The rows, refused once a row is wider or all rows hold more cells than allowed."""
    b = bounds or UploadBounds()
    cells = 0
    for n, row in enumerate(rows, 1):
        width = len(row)
        if width > b.max_columns:
            raise InvoiceError(
                f"row {n}: {width:,} columns, more than the {b.max_columns:,} allowed "
                "(CLOUDTALLY_INVOICE_MAX_COLUMNS)",
                "row_too_wide",
                row=n,
                columns=f"{width:,}",
                limit=f"{b.max_columns:,}",
            )
        cells += width
        if cells > b.max_cells:
            raise InvoiceError(
                f"row {n}: the file holds more than {b.max_cells:,} cells "
                "(CLOUDTALLY_INVOICE_MAX_CELLS); nothing was imported",
                "too_many_cells",
                row=n,
                limit=f"{b.max_cells:,}",
            )
        yield row
