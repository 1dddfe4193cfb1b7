"""A scorecard: every indicator of the scheme evaluated, entries applied, added, graded.

Manual entries: on a ``manual`` indicator the entry *is* the points; on a measured one
it adjusts them (the evaluators' judgement, 酌情), and the measured figure and the
rule's points stay in the report beside it. The total is the exact sum of the points;
the grade is the first band whose lower bound the exact total reaches (90.00 is 优,
89.995 is 良: nothing is rounded before it is graded).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal

from cloudtally.core.scorecard import EVALUATORS
from cloudtally.core.scorecard.base import IndicatorResult, clamp
from cloudtally.core.scorecard.inputs import Entry, ScorecardInputs
from cloudtally.core.scorecard.scheme import GradeBand, Indicator, SchemeVersion


@dataclass(frozen=True)
class Line:
    indicator: Indicator
    result: IndicatorResult
    rule_points: Decimal | None  # the measured rule's points when an entry adjusted them
    entry: Entry | None


@dataclass(frozen=True)
class Scorecard:
    fiscal_year: int
    provider: str
    pool: str
    scheme: SchemeVersion
    lines: tuple[Line, ...]
    total: Decimal
    grade: GradeBand

    @property
    def missing(self) -> list[str]:
        return [ln.indicator.code for ln in self.lines if ln.result.status == "missing"]

    @property
    def complete(self) -> bool:
        return not self.missing


def grade_of(total: Decimal, bands: list[GradeBand]) -> GradeBand:
    """The first band the exact total reaches; below every bound: the last band."""
    for band in bands:
        if total >= band.at_least:
            return band
    return bands[-1]


def apply_entry(ind: Indicator, result: IndicatorResult, entry: Entry | None) -> Line:
    if entry is None:
        return Line(ind, result, None, None)
    points = clamp(entry.points, ind.weight)
    who = {"entered_by": entry.entered_by, "entered_at": entry.entered_at,
           "comment": entry.comment, "evidence": entry.evidence}  # fmt: skip
    if ind.measure == "manual":
        shown = format(points.normalize(), "f") if points else "0"
        result = IndicatorResult("entered", points, None, f"人工录入 {shown}", (who,),
                                 entry.comment, "entered", params={"points": shown})  # fmt: skip
        return Line(ind, result, None, entry)
    adjusted = replace(result, status="adjusted", points=points,
                       evidence=(*result.evidence, who), note=entry.comment,
                       note_id="")  # fmt: skip  # the reviewer's words, as written
    return Line(ind, adjusted, result.points, entry)


def evaluate_line(ind: Indicator, inputs: ScorecardInputs) -> Line:
    module = EVALUATORS[ind.measure]
    result: IndicatorResult = module.evaluate(ind.parsed_params(), ind.weight, inputs)
    return apply_entry(ind, result, inputs.entries.get(ind.code))


def scorecard(scheme: SchemeVersion, inputs: ScorecardInputs) -> Scorecard:
    lines = tuple(evaluate_line(ind, inputs) for ind in scheme.indicators)
    total = sum((ln.result.points for ln in lines), Decimal(0))
    return Scorecard(inputs.fiscal_year, inputs.provider, inputs.pool, scheme, lines, total,
                     grade_of(total, scheme.grades))  # fmt: skip
