"""Availability for the scorecard, from :mod:`cloudtally.evaluation.availability` (the
meter: a VM is down while its collector listens and it does not answer; a silent
collector is a metering gap, never downtime).

Compute availability of the pool over the fiscal year = Σ up ÷ Σ (up + down) over its
VMs, exact (a :class:`~fractions.Fraction`), with the incidents as evidence.

Fault handling: the provider's fault reports received in the fiscal year with their
timeliness against the contract (:func:`cloudtally.evaluation.faults.fault_report`);
faults are reported per provider, so every pool of a provider shares the figure. No
fault in the year is no evidence (an import of zero faults stores nothing): a year
without faults is an entry on the indicator.
"""

from __future__ import annotations

import datetime as dt
from fractions import Fraction
from typing import Any

from cloudtally.core.availability import aggregate
from cloudtally.core.policy import Policy
from cloudtally.core.scorecard.inputs import Availability, FaultCheck, Faults
from cloudtally.evaluation.availability import Scope, assess, fiscal_year_span
from cloudtally.evaluation.faults import fault_report
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
        {"month": str(m), **i.as_dict(), "system": v.label("system")}
        for m, i, v in a.placed_incidents()
    ]
    return {"faults": faults(store, policy, provider, start, end), "availability": {
            "compute": Availability(
                pct=None if exact is None else exact * 100,
                minutes_down=Fraction(fig.down_s, 60),
                incidents=tuple(incidents[:MAX_INCIDENTS]),
                source=f"{len({v.vm_id for _, v in a.per_vm})} VM(s), "
                f"{len(incidents)} incident(s) by month, metered "
                f"{fig.up_s + fig.down_s} s, gap {fig.gap_s} s",
            )
        }}  # fmt: skip


def faults(store: Store, policy: Policy, provider: str, start: int, end: int) -> Faults | None:
    doc = fault_report(store, policy, start, end, provider=provider)
    if not doc["faults"]:
        return None
    s = doc["summary"]
    checks = tuple(
        FaultCheck(f["fault_id"], f["severity"], tuple(f["breaches"])) for f in doc["faults"]
    )
    return Faults(checks, f"{s['faults']} fault(s) reported, {s['breaches']} deadline(s) "
                          f"missed; cross-check: {s['faults_without_metered_downtime']} without "
                          f"metered downtime, {s['metered_downtime_without_report']} metered "
                          "outage(s) without a report")  # fmt: skip
