"""预算执行率 (2 points) = paid ÷ available × 100 %; points = rate × weight, at most the
weight. Seed 003: 5823万 paid of 5823万 available → 100 % → 2 of 2.

cloudtally does not see the treasury: ``available`` and ``paid`` come from the
buyer's budget entry (``available`` defaults to the policy's programme budget for
the year). Missing figures are no evidence: 0 points.
"""

from __future__ import annotations

from decimal import Decimal

from cloudtally.core.scorecard.base import IndicatorResult, clamp, no_data, pct_text
from cloudtally.core.scorecard.base import Params as _Params
from cloudtally.core.scorecard.inputs import ScorecardInputs

KIND = "budget_execution"


class Params(_Params):
    no_evidence_points: Decimal = Decimal(0)


def evaluate(params: Params, weight: Decimal, inputs: ScorecardInputs) -> IndicatorResult:
    b = inputs.budget
    if b is None or b.available is None or b.paid is None or b.available <= 0:
        return no_data(
            params.no_evidence_points, "no budget entry with available and paid", "no_budget_paid"
        )
    rate = b.paid / b.available * 100
    evidence = ({"available": str(b.available), "paid": str(b.paid), "source": b.source},)
    return IndicatorResult(
        "measured", clamp(rate / 100 * weight, weight), rate,
        f"{b.paid} ÷ {b.available} = {pct_text(rate)}", evidence, text_id="ratio",
        params={"a": str(b.paid), "b": str(b.available), "pct": pct_text(rate)},
    )  # fmt: skip
