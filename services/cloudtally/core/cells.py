"""Spreadsheet cells that stay data: formula injection is neutralised in every export.

Provider files and inventory carry free text (resource names, descriptions,
SKUs). A cell that starts with ``=``, ``+``, ``-`` or ``@`` (or their full-width
forms, or a tab / carriage return / line feed that some spreadsheet software
skips before looking) becomes a live formula when a CSV is opened in Excel or
WPS: ``=HYPERLINK("http://…")`` would send a click to an outside address.

* CSV: such text is prefixed with an apostrophe (the OWASP rule), which every
  spreadsheet shows as text; numbers are never touched (a negative amount,
  as a number or as the text ``-12.50``, stays as it is).
* XLSX: the text is kept exactly and written as a string cell, which a
  spreadsheet never evaluates (see :func:`cloudtally.sheets.text_cells`).
"""

from __future__ import annotations

import re

_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "＝", "＋", "－", "＠")


def formula_like(text: str) -> bool:
    """Starts like a formula and is more than one character and not a signed number."""
    return len(text) > 1 and text.startswith(FORMULA_STARTS) and not _NUMBER.fullmatch(text)


def neutralise(text: str) -> str:
    """CSV text that a spreadsheet shows as text, never runs as a formula."""
    return "'" + text if formula_like(text) else text
