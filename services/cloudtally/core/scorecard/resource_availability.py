"""项目资源可用率 (1 point): virtual and physical compute available ≥ 99.95 % of the year
→ full points; otherwise ``per_point`` (0.5) off for every started percentage point
below the target, down to 0 (so 99.94 % loses 0.5: "每下降1个百分点，扣0.5分" read as
any shortfall counts). The figure is the meter's availability of the class
(``classes``, lowest first counts) over the fiscal year; no figure is no evidence.
"""

from __future__ import annotations

import math
from decimal import ROUND_DOWN, Decimal
from fractions import Fraction

from cloudtally.core.scorecard.base import IndicatorResult, clamp, no_data, pct_text
from cloudtally.core.scorecard.base import Params as _Params
from cloudtally.core.scorecard.inputs import ScorecardInputs

KIND = "resource_availability"


class Params(_Params):
    classes: tuple[str, ...] = ("compute",)
    target_pct: Decimal = Decimal("99.95")
    per_point: Decimal = Decimal("0.5")
    no_evidence_points: Decimal = Decimal(0)


def evaluate(params: Params, weight: Decimal, inputs: ScorecardInputs) -> IndicatorResult:
    got = [(c, inputs.availability.get(c)) for c in params.classes]
    figures = [(c, a) for c, a in got if a is not None and a.pct is not None]
    if len(figures) < len(params.classes):
        return no_data(
            params.no_evidence_points,
            "no metered availability for the fiscal year",
            "no_availability",
        )
    cls, worst = min(figures, key=lambda ca: Fraction(ca[1].pct or 0))
    exact = Fraction(worst.pct or 0)
    short = max(Fraction(0), Fraction(params.target_pct) - exact)
    steps = Decimal(math.ceil(short))  # every started percentage point below the target
    pct = _dec(exact) or Decimal(0)  # display, cut to 0.0001; compared exactly above
    evidence = tuple(
        {"class": c, "pct": str(_dec(a.pct)), "minutes_down": str(_dec(a.minutes_down)),
         "incidents": list(a.incidents), "source": a.source}
        for c, a in figures
    )  # fmt: skip
    return IndicatorResult(
        "measured", clamp(weight - steps * params.per_point, weight), pct,
        f"{cls} 可用率 {pct_text(pct, '0.001')}（目标 {params.target_pct}%）", evidence,
        text_id="availability", params={"cls": str(cls), "pct": pct_text(pct, "0.001"),
                                        "target": str(params.target_pct)},
    )  # fmt: skip


def _dec(x: Decimal | Fraction | None) -> Decimal | None:
    if x is None or isinstance(x, Decimal):
        return x
    return (Decimal(x.numerator) / Decimal(x.denominator)).quantize(
        Decimal("0.0001"), rounding=ROUND_DOWN
    )
