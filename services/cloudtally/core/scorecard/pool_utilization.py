"""第一资源池云资源利用率 (2 points): ≥ 65 % → 2, 60–65 % → 1, < 60 % → 0; no evidence
counts as < 60 %. Seed 003 read the December report: CPU 47.4, memory 64.6, storage
63.8 → 58.6 % → 0 of 2, so the basis defaults to the fiscal year's last month."""

from __future__ import annotations

from decimal import Decimal

from cloudtally.core.scorecard.base import IndicatorResult
from cloudtally.core.scorecard.inputs import ScorecardInputs
from cloudtally.core.scorecard.utilization import Basis, UtilizationParams, evaluate_utilization

KIND = "pool_utilization"


class Params(UtilizationParams):
    basis: Basis = "last_month"


def evaluate(params: Params, weight: Decimal, inputs: ScorecardInputs) -> IndicatorResult:
    return evaluate_utilization(params, inputs, inputs.utilization_bands.two_point)
