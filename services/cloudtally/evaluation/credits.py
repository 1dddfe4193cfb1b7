"""SLA credits from the store: pool availability and pool fees of a month → statement lines.

The SLA version in force on the month's last day names each provider's credit rule
(:mod:`cloudtally.core.sla`). A pool's fee is the month's current bill lines after
their line adjustments (Σ ``after_cut``); its availability is the meter's
(:mod:`cloudtally.evaluation.availability`). The credit is written as a
``statement_lines`` row of kind ``sla_credit`` (one per provider and month, the pools
in its details with the incidents and the step), provisional until the month is
closed; invoice verification then expects it on the invoice (rule S1).
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from cloudtally.core.availability import Incident
from cloudtally.core.policy import Policy
from cloudtally.core.sla import SlaCredit, month_credit, month_last_day
from cloudtally.core.statements import month_bounds
from cloudtally.evaluation.availability import Scope, assess, month_span
from cloudtally.store import Store

KIND = "sla_credit"


@dataclass(frozen=True)
class CreditRow:
    credit: SlaCredit

    def as_row(self) -> dict[str, Any]:
        c = self.credit
        return {
            "provider": c.provider,
            "month": c.month.isoformat(),
            "sla_version": c.sla_version,
            "fee": c.fee,
            "amount": c.amount,
            "derivation": c.sentence() or "no pool below its steps: no credit",
            "pools": [
                {
                    "pool": p.pool,
                    "availability_pct": p.availability_pct,
                    "step": p.step + 1,
                    "below_pct": p.below_pct,
                    "cut": p.cut,
                    "fee": p.fee,
                    "amount": p.amount,
                    "down_s": p.down_s,
                    "incidents": [i.as_dict() for i in p.incidents],
                    "derivation": p.sentence(c.month),
                }
                for p in c.pools
            ],
        }


def pool_fees(store: Store, month: dt.date, provider: str) -> dict[str, Decimal]:
    """The provider's month fee per pool: the sums of its current bill lines, read from
    the per-VM month totals the rating step keeps with them (a province's month of bill
    lines took ~1 s to sum per provider)."""
    from cloudtally.billing import totals

    d0, d1 = month_bounds(month)
    params: dict[str, object] = {}
    rows = store.rows(
        f"SELECT pool, sum(after_cut) {totals.where(params, d0, d1, provider=provider)}"
        " GROUP BY pool",
        params,
    )
    return {str(r[0]): Decimal(r[1]) for r in rows}


def month_credits(
    store: Store, policy: Policy, month: dt.date, *, provider: str | None = None
) -> list[CreditRow]:
    """Every provider's SLA credit for one month (only providers with a credit rule)."""
    levels = policy.service_levels
    first = month.replace(day=1)
    version = levels.at(month_last_day(first)) if levels else None
    if version is None:
        return []
    out = []
    t0, t1 = month_span(policy, first)
    for rule in version.credits:
        if provider and rule.provider != provider:
            continue
        a = assess(store, policy, Scope(t0, t1, provider=rule.provider))
        figures = {g: f for (_, g), f in a.figures("pool").items()}
        incidents: dict[str, list[Incident]] = {}
        for _, i, v in a.placed_incidents():  # the pool the VM was in at the time
            incidents.setdefault(v.label("pool"), []).append(i)
        fees = pool_fees(store, first, rule.provider)
        c = month_credit(
            version,
            rule.provider,
            first,
            figures,
            fees,
            {k: tuple(v) for k, v in incidents.items()},
        )
        if c is not None:
            out.append(CreditRow(c))
    return out


def accrue_credits(
    store: Store, policy: Policy, month: dt.date, *, final: bool = False, run_id: str = ""
) -> list[dict[str, Any]]:
    """Write the month's SLA credit lines (provisional or final): one per provider whose
    credit is not zero; a provider whose credit went away gets a zero line, never a stale
    one (a month without a due credit gets no line at all)."""
    first = month.replace(day=1)
    credits = [r.credit for r in month_credits(store, policy, first) if r.credit.amount != 0]
    existing = {
        r[0]
        for r in store.rows(
            "SELECT provider FROM statement_lines FINAL"
            " WHERE month = %(m)s AND kind = %(k)s AND amount != 0",
            {"m": first, "k": KIND},
        )
    }
    rows = [
        {
            "provider": c.provider, "tariff_version": c.sla_version, "basis": "pool_month",
            "mode": "steps", "basis_value": Decimal(0), "fee": c.fee, "amount": c.amount,
            "details": c.details(), "kind": KIND,
        }
        for c in credits
    ]  # fmt: skip
    for prov in sorted(existing - {c.provider for c in credits}):
        rows.append(
            {
                "provider": prov, "tariff_version": "", "basis": "", "mode": "",
                "basis_value": Decimal(0), "fee": Decimal(0), "amount": Decimal("0.00"),
                "details": "{}", "kind": KIND,
            }
        )  # fmt: skip
    if rows:
        v = time.time_ns()
        n = len(rows)
        store.insert(
            "statement_lines",
            {
                "month": [first] * n,
                "fiscal_year": [policy.fiscal_year_of(first)] * n,
                **{k: [r[k] for r in rows] for k in ("provider", "kind", "tariff_version")},
                "status": ["final" if final else "provisional"] * n,
                **{k: [r[k] for r in rows] for k in ("basis", "mode", "basis_value", "fee")},
                "amount": [r["amount"] for r in rows],
                "details": [r["details"] for r in rows],
                "run_id": [run_id] * n,
                "computed_at": [int(time.time())] * n,
                "version": [v] * n,
            },
        )
    return rows
