"""目标用户使用体验满意率 (6 points), seed 003's formula:

    rate = (very satisfied % × 100 + fairly % × 80 + neutral % × 60 + dissatisfied % × 0) / 100
    rate ≥ 90 % → 6;  60 % ≤ rate < 90 % → (rate − 60 %) / (90 % − 60 %) × 6;  < 60 % → 0

from an imported survey (counts or percentages per answer). The shares are each
answer over the sum of all answers, so counts and percentages that do not add up to
exactly 100 (a provider's rounded report) give the same rate. No survey: 0 points.
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import Field

from cloudtally.core.scorecard.base import IndicatorResult, clamp, no_data, pct_text
from cloudtally.core.scorecard.base import Params as _Params
from cloudtally.core.scorecard.inputs import ANSWERS, ScorecardInputs

KIND = "satisfaction"

_D = Decimal


class Params(_Params):
    answer_values: dict[str, Decimal] = Field(
        default_factory=lambda: {
            "very_satisfied": _D(100),
            "fairly_satisfied": _D(80),
            "neutral": _D(60),
            "dissatisfied": _D(0),
        }
    )
    full_at: Decimal = _D(90)
    zero_below: Decimal = _D(60)
    no_evidence_points: Decimal = _D(0)


def rate(answers: dict[str, Decimal], values: dict[str, Decimal]) -> Decimal | None:
    """Satisfaction rate in %, exact; None when there is no answer at all."""
    total = sum((answers.get(a, _D(0)) for a in ANSWERS), _D(0))
    if total <= 0:
        return None
    return sum((answers.get(a, _D(0)) * values[a] for a in ANSWERS), _D(0)) / total


def points(r: Decimal, weight: Decimal, p: Params) -> Decimal:
    if r >= p.full_at:
        return clamp(weight, weight)
    if r < p.zero_below:
        return clamp(_D(0), weight)
    return clamp((r - p.zero_below) / (p.full_at - p.zero_below) * weight, weight)


def evaluate(params: Params, weight: Decimal, inputs: ScorecardInputs) -> IndicatorResult:
    s = inputs.survey
    r = None if s is None else rate(dict(s.answers), params.answer_values)
    if s is None or r is None:
        return no_data(
            params.no_evidence_points, "no survey imported for the fiscal year", "no_survey"
        )
    evidence = ({"basis": s.basis, "source": s.source}
                | {a: str(s.answers.get(a, 0)) for a in ANSWERS},)  # fmt: skip
    return IndicatorResult("measured", points(r, weight, params), r, f"满意率 {pct_text(r)}",
                           evidence, text_id="satisfaction",
                           params={"pct": pct_text(r)})  # fmt: skip
