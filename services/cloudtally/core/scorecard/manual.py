"""An indicator that needs documents (立项, 制度, 验收 …): the buyer enters its points
with a comment, and the entry (who, when) is the evidence. Not entered yet: 0 points,
status ``missing``, and the scorecard says it is incomplete."""

from __future__ import annotations

from decimal import Decimal

from cloudtally.core.scorecard.base import IndicatorResult, clamp
from cloudtally.core.scorecard.base import Params as _Params
from cloudtally.core.scorecard.inputs import ScorecardInputs

KIND = "manual"


class Params(_Params):
    pass


def evaluate(params: Params, weight: Decimal, inputs: ScorecardInputs) -> IndicatorResult:
    """Placeholder result; the scorecard applies the indicator's entry over it."""
    return IndicatorResult("missing", clamp(Decimal(0), weight), None, "待填写", (),
                           "needs documents: enter the points (API or CLI)", "missing",
                           "needs_entry")  # fmt: skip
