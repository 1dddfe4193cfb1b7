"""云资源和云存储资源使用率 (10 points, monthly data, the year's total): ≥ 70 % → 10,
≥ 60 → 9, ≥ 50 → 8, ≥ 40 → 7, ≥ 30 → 6, ≥ 20 → 5, < 20 → 0; no evidence counts as
< 20 %. Seed 003: pool 1 at 58.6 % → 8 of 10."""

from __future__ import annotations

from decimal import Decimal

from cloudtally.core.scorecard.base import IndicatorResult
from cloudtally.core.scorecard.inputs import ScorecardInputs
from cloudtally.core.scorecard.utilization import Basis, UtilizationParams, evaluate_utilization

KIND = "cloud_storage_utilization"


class Params(UtilizationParams):
    basis: Basis = "year"


def evaluate(params: Params, weight: Decimal, inputs: ScorecardInputs) -> IndicatorResult:
    return evaluate_utilization(params, inputs, inputs.utilization_bands.ten_point)
