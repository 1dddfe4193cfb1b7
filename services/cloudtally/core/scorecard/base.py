"""What an indicator's evaluation returns, and the arithmetic every indicator shares.

Points are exact Decimals cut (never rounded up) to ``POINTS_STEP``: a figure that
falls short of a band never reaches it through rounding, and a total of 89.995 is
not 90. Display rounding happens in the report, also downwards.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict

# measured: computed from cloudtally's data; entered: a buyer's manual entry;
# adjusted: measured, then changed by an entry with a reason (the evaluators' 酌情);
# no_data: a measured indicator without evidence (scored as the rule says);
# missing: a manual indicator nobody has filled in yet (0 points, report incomplete).
Status = Literal["measured", "entered", "adjusted", "no_data", "missing"]
POINTS_STEP = Decimal("0.0001")
ZERO = Decimal(0)


class Params(BaseModel):
    """Base of every indicator's parameters (the rule's numbers, from the scheme file)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class IndicatorResult:
    status: Status
    points: Decimal
    figure: Decimal | None = None  # the measured figure the rule bands (a percentage mostly)
    figure_text: str = ""  # the figure as the report prints it (Chinese first)
    evidence: tuple[Mapping[str, object], ...] = field(default_factory=tuple)
    note: str = ""  # English remark (an entry's: the reviewer's comment, as written)
    # The texts as catalogue ids + figures, for a report in either language:
    # scorecard.figure.<text_id> and scorecard.note.<note_id> filled from ``params``.
    text_id: str = ""
    note_id: str = ""
    params: Mapping[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {
            "status": self.status,
            "points": str(self.points),
            "figure": None if self.figure is None else str(self.figure),
            "figure_text": self.figure_text,
            "evidence": [dict(e) for e in self.evidence],
            "note": self.note,
        }


def cut(points: Decimal) -> Decimal:
    """Points to the scorecard's step, towards zero (never up across a threshold)."""
    return points.quantize(POINTS_STEP, rounding=ROUND_DOWN)


def clamp(points: Decimal, weight: Decimal) -> Decimal:
    """Points kept between 0 and the weight (a negative weight: between it and 0)."""
    lo, hi = (weight, ZERO) if weight < 0 else (ZERO, weight)
    return cut(max(lo, min(hi, points)))


def pct_text(value: Decimal | None, places: str = "0.01") -> str:
    """A percentage for the report, cut (not rounded up) to the given places."""
    if value is None:
        return "无数据"
    return f"{value.quantize(Decimal(places), rounding=ROUND_DOWN)}%"


def first_at_least(value: Decimal, bands: Sequence[tuple[Decimal, Decimal]]) -> Decimal:
    """Points of the first (highest) band whose lower bound the exact value reaches."""
    for at_least, points in bands:
        if value >= at_least:
            return points
    return min(p for _, p in bands)


def first_at_most(value: Decimal, bands: Sequence[tuple[Decimal, Decimal]]) -> Decimal:
    """Points of the first (lowest) band whose upper bound the exact value stays within."""
    for at_most, points in bands:
        if value <= at_most:
            return points
    return min(p for _, p in bands)


def no_data(points: Decimal, why: str, note_id: str = "") -> IndicatorResult:
    """No evidence: the points the scheme gives for none; ``note_id``: ``why``'s key."""
    return IndicatorResult("no_data", cut(points), None, "无数据", (), why, "no_data", note_id)


Evidence = Mapping[str, object]
