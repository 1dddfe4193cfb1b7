"""Availability for the scorecard, from :mod:`cloudtally.evaluation.availability` (the
meter: a VM is down while its collector listens and it does not answer; a silent
collector is a metering gap, never downtime).

Compute availability of the pool over the fiscal year = Σ up ÷ Σ (up + down) over its
VMs, exact (a :class:`~fractions.Fraction`), with the incidents as evidence. Fault
handling is not gathered here: no fault reports are stored yet, so the scheme keeps
that indicator a manual entry (docs/scorecard.md).
"""

from __future__ import annotations

import datetime as dt
from fractions import Fraction
from typing import Any

from cloudtally.core.availability import aggregate
from cloudtally.core.policy import Policy
from cloudtally.core.scorecard.inputs import Availability
from cloudtally.evaluation.availability import Scope, assess, fiscal_year_span
from cloudtally.store import Store

MAX_INCIDENTS = 50  # evidence listed per indicator (the count is always complete)


def inputs(
    store: Store, policy: Policy, provider: str, pool: str, d0: dt.date, d1: dt.date
) -> dict[str, Any]:
    start, end = fiscal_year_span(policy, policy.fiscal_year_of(d0))
    a = assess(store, policy, Scope(start, end, pool=pool, provider=provider))
    fig = aggregate(v for _, v in a.per_vm)
    exact = fig.availability
    incidents = [
        {"month": str(m), **i.as_dict(), "system": a.attributes.get(i.vm_id, {}).get("system", "")}
        for m, i in a.incidents()
    ]
    return {
        "availability": {
            "compute": Availability(
                pct=None if exact is None else exact * 100,
                minutes_down=Fraction(fig.down_s, 60),
                incidents=tuple(incidents[:MAX_INCIDENTS]),
                source=f"{len({v.vm_id for _, v in a.per_vm})} VM(s), "
                f"{len(incidents)} incident(s) by month, metered "
                f"{fig.up_s + fig.down_s} s, gap {fig.gap_s} s",
            )
        }
    }
