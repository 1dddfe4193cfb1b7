"""Province-wide tables in pages: the biggest rows, and the rest counted and summed.

Why: the buyer's statement has a row per system (1,000 in Hainan); rendering them all on
every home and bills request cost most of the page's time, and nobody reads row 900 on a
screen. A page shows the first ``n`` by amount, one line with how many more there are and
their sum (so the table still adds up to the total), a "show all" link, and the CSV
download has every row.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any


@dataclass(frozen=True)
class Top:
    rows: list[dict[str, Any]]
    rest: int  # rows not shown
    rest_amount: Decimal  # their sum: shown + rest = the table's total
    total_rows: int


def top_rows(rows: list[dict[str, Any]], n: int, amount: str, *, show_all: bool = False) -> Top:
    """The ``n`` biggest rows by ``amount`` (every row when ``show_all``), biggest first."""
    ordered = sorted(rows, key=lambda r: Decimal(r[amount] or 0), reverse=True)
    shown = ordered if show_all else ordered[:n]
    rest = ordered[len(shown) :]
    return Top(shown, len(rest), sum((Decimal(r[amount] or 0) for r in rest), Decimal(0)),
               len(rows))  # fmt: skip
