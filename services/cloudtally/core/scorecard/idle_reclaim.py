"""主机闲置资源回收率 (3 points): idle candidates (the seed's rule: two weeks with CPU and
memory average < 5 % and maximum < 10 %) must be reclaimed; each one not reclaimed
within ``within_days`` of the round that listed it costs ``per_miss`` point, down to 0.

Candidates are the idle items of the rightsizing rounds opened in the fiscal year
(each VM once, from the first round that listed it); "reclaimed" is the inventory's
deletion of the VM. A declined candidate is still not reclaimed (the rule has no
exemption; the evidence shows the bureau's reason). No round opened in the year is
no evidence (``no_evidence_points``); rounds with no idle candidate score in full.
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import Field

from cloudtally.core.scorecard.base import IndicatorResult, clamp, no_data
from cloudtally.core.scorecard.base import Params as _Params
from cloudtally.core.scorecard.inputs import ScorecardInputs

KIND = "idle_reclaim"


class Params(_Params):
    within_days: int = Field(30, ge=1, le=366)
    per_miss: Decimal = Decimal(1)
    no_evidence_points: Decimal = Decimal(0)


def evaluate(params: Params, weight: Decimal, inputs: ScorecardInputs) -> IndicatorResult:
    rounds = inputs.rounds
    if rounds is None or rounds.opened == 0:
        return no_data(
            params.no_evidence_points, "no rightsizing round opened in the fiscal year", "no_rounds"
        )
    evidence, missed = [], 0
    for c in sorted(rounds.candidates, key=lambda c: (c.found_on, c.vm_id)):
        days = None if c.reclaimed_on is None else (c.reclaimed_on - c.found_on).days
        ok = days is not None and days <= params.within_days
        missed += not ok
        evidence.append(
            {
                "vm_id": c.vm_id, "bureau": c.bureau, "round_id": c.round_id,
                "found_on": c.found_on.isoformat(), "decision": c.decision,
                "reclaimed_on": None if c.reclaimed_on is None else c.reclaimed_on.isoformat(),
                "days": days, "in_time": ok,
            }
        )  # fmt: skip
    n = len(evidence)
    figure = Decimal(100) if n == 0 else Decimal(n - missed) * 100 / n
    text = f"{n - missed}/{n} 台按时回收（{params.within_days} 天内）" if n else "无闲置候选"
    points = clamp(weight - params.per_miss * missed, weight)
    return IndicatorResult("measured", points, figure, text, tuple(evidence),
                           f"{rounds.opened} round(s) opened in the fiscal year",
                           "reclaimed" if n else "no_idle", "rounds_opened",
                           {"ok": str(n - missed), "n": str(n), "days": str(params.within_days),
                            "opened": str(rounds.opened)})  # fmt: skip
