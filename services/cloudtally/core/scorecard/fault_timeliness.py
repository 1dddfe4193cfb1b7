"""系统故障响应或维护及时性 (3 points): every fault whose handling missed a contract
deadline (seed: major fault on site within 30 min, resolved within 2 h, analysis
report within 3 working days) costs ``per_breach`` (1) point, down to 0. A fault
that missed two deadlines is one late fault (the seed counts faults: "每出现1次").
No fault report imported for the year is no evidence.
"""

from __future__ import annotations

from decimal import Decimal

from cloudtally.core.scorecard.base import IndicatorResult, clamp, no_data
from cloudtally.core.scorecard.base import Params as _Params
from cloudtally.core.scorecard.inputs import ScorecardInputs

KIND = "fault_timeliness"


class Params(_Params):
    per_breach: Decimal = Decimal(1)
    no_evidence_points: Decimal = Decimal(0)


def evaluate(params: Params, weight: Decimal, inputs: ScorecardInputs) -> IndicatorResult:
    f = inputs.faults
    if f is None:
        return no_data(
            params.no_evidence_points, "no fault report imported for the fiscal year", "no_faults"
        )
    late = [c for c in f.checks if c.breaches]
    evidence = tuple(
        {"fault_id": c.fault_id, "severity": c.severity, "breaches": list(c.breaches)}
        for c in f.checks
    )
    n = len(f.checks)
    figure = Decimal(100) if n == 0 else Decimal(n - len(late)) * 100 / n
    return IndicatorResult(
        "measured", clamp(weight - params.per_breach * len(late), weight), figure,
        f"{len(late)}/{n} 次故障处理超时", evidence, f.source,
        "faults_late", params={"late": str(len(late)), "n": str(n)},
    )  # fmt: skip
