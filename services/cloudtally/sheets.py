"""XLSX cells as data: strings are written as string cells, never formulas.

openpyxl stores any string that starts with ``=`` as a formula; every XLSX
export passes its rows through :func:`text_cells` after appending them (see
:mod:`cloudtally.core.cells` for the rule and the CSV side).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

# XML 1.0 cannot hold these control characters; openpyxl refuses them (a 500 before).
_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def xlsx_text(text: str) -> str:
    """Text an XLSX cell can hold: XML-illegal control characters become U+FFFD."""
    return _ILLEGAL.sub("\ufffd", text)


def text_cells(cells: Iterable[Any]) -> None:
    """Mark the string cells of an appended row as literal strings."""
    for cell in cells:
        if isinstance(cell.value, str):
            cell.data_type = "s"


def write_only_row(ws: Any, values: Iterable[Any]) -> list[Any]:
    """A write-only sheet's row with string values as literal string cells."""
    from openpyxl.cell import WriteOnlyCell

    row = []
    for v in values:
        cell = WriteOnlyCell(ws, value=xlsx_text(v) if isinstance(v, str) else v)
        if isinstance(v, str):
            cell.data_type = "s"
        row.append(cell)
    return row
