"""The annual performance evaluation (绩效评价) as a reproducible scorecard.

One module per measured rule (ruff-style, like :mod:`cloudtally.core.rules`): each has
``KIND``, its ``Params`` (the rule's numbers, validated from the scheme file) and a pure
``evaluate(params, weight, inputs) -> IndicatorResult``. Which indicator uses which rule,
its weight, names and the rule's text are data: the scheme (:mod:`.scheme`, shipped as
``policy/scorecard.yaml`` after seed 003's 附件). :mod:`.card` applies the buyer's manual
entries, adds up and grades.
"""

from __future__ import annotations

from types import ModuleType

from cloudtally.core.scorecard import (
    budget_adjustment,
    budget_execution,
    cloud_storage_utilization,
    fault_timeliness,
    idle_reclaim,
    manual,
    pool_utilization,
    resource_availability,
    satisfaction,
    unit_price_trend,
)

EVALUATORS: dict[str, ModuleType] = {
    m.KIND: m
    for m in (
        manual,
        pool_utilization,
        cloud_storage_utilization,
        unit_price_trend,
        idle_reclaim,
        budget_execution,
        budget_adjustment,
        satisfaction,
        resource_availability,
        fault_timeliness,
    )
}

__all__ = ["EVALUATORS"]
