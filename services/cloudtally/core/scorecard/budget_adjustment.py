"""预算调整率 (3 points) = (amount moved to other uses + amount the treasury recovered) ÷
approved budget × 100 % (absolute; increases are not counted); ≤ 10 % → 3,
≤ 15 → 2.5, ≤ 20 → 2, ≤ 25 → 1.5, ≤ 30 → 1, > 30 → 0 (seed 003's bands, upper
bounds inclusive). Figures from the buyer's budget entry; ``approved`` defaults to the
policy's programme budget. Seed 003 scored 1.5 at its discretion (酌情) although
2145 ÷ 5823 = 36.8 % falls in the 0 band: such a judgement is an adjustment entry
with its reason, on top of the measured figure.
"""

from __future__ import annotations

from decimal import Decimal

from cloudtally.core.scorecard.base import IndicatorResult, cut, first_at_most, no_data, pct_text
from cloudtally.core.scorecard.base import Params as _Params
from cloudtally.core.scorecard.inputs import ScorecardInputs

KIND = "budget_adjustment"

_D = Decimal


class Params(_Params):
    # (rate at most %, points), lowest bound first; above the last bound: the last points
    bands: tuple[tuple[Decimal, Decimal], ...] = (
        (_D(10), _D(3)), (_D(15), _D("2.5")), (_D(20), _D(2)), (_D(25), _D("1.5")),
        (_D(30), _D(1)), (_D("1e12"), _D(0)),
    )  # fmt: skip
    no_evidence_points: Decimal = Decimal(0)


def evaluate(params: Params, weight: Decimal, inputs: ScorecardInputs) -> IndicatorResult:
    b = inputs.budget
    if b is None or b.approved is None or b.approved <= 0:
        return no_data(
            params.no_evidence_points, "no approved budget for the fiscal year", "no_budget"
        )
    if b.reduced_to_other is None and b.recovered is None:
        return no_data(
            params.no_evidence_points, "no entry of amounts moved or recovered", "no_moved"
        )
    moved = abs(b.reduced_to_other or Decimal(0)) + abs(b.recovered or Decimal(0))
    rate = moved / b.approved * 100
    evidence = (
        {
            "approved": str(b.approved), "reduced_to_other": str(b.reduced_to_other or 0),
            "recovered": str(b.recovered or 0), "source": b.source,
        },
    )  # fmt: skip
    return IndicatorResult("measured", cut(first_at_most(rate, params.bands)), rate,
                           f"{moved} ÷ {b.approved} = {pct_text(rate)}", evidence,
                           text_id="ratio", params={"a": str(moved), "b": str(b.approved),
                                                    "pct": pct_text(rate)})  # fmt: skip
